package io.kinfer.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;

/** Whether a port can be bound here: checked before starting a process that would otherwise fail on it. */
final class LocalPorts {

    private LocalPorts() {
    }

    /**
     * True when {@code host:port} can be bound now (or the host is unknown here: the process that binds it says
     * so itself). Another process may still take the port before it is used; this only catches the common case of
     * one already held (a broker or gateway left running).
     */
    static boolean free(String host, int port) {
        InetAddress address;
        try {
            address = InetAddress.getByName(host == null || host.isBlank() ? "127.0.0.1" : host.trim());
        } catch (UnknownHostException e) {
            return true;
        }
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(address, port));
            return true;
        } catch (IOException e) {
            // Only "in use" counts: an address of another machine ("cannot assign") is the binding process's to report.
            return e.getMessage() == null || !e.getMessage().contains("already in use");
        }
    }
}
