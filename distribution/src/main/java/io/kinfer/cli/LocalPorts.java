package io.kinfer.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The one way a kinfer command says a port it binds is taken: one line, "port N (whose) is already in use; choose
 * another with --flag", never a stack trace. A command checks its ports before it starts the process that binds them
 * ({@link #requireFree}: the common case, a broker or gateway left running, fails before anything starts); a bind
 * that fails anyway (another process took the port meanwhile, or the command binds without a check) is recognised
 * by {@link #describeInUse}, with the same line: {@link CliErrors} for the commands that bind a port themselves
 * (worker, gateway), the broker's own failure handler for the broker.
 */
final class LocalPorts {

    /** What the JDK (Linux, macOS: "Address already in use"; Windows: "...: bind") and Netty's native transport say. */
    private static final String IN_USE = "Address already in use";

    /** A port a process will bind on {@code host}, and the line that says it is taken and which flag moves it. */
    record Port(String host, int number, String inUse) {
    }

    private LocalPorts() {
    }

    /** The line for a port in use: {@code port N (whose) is already in use; remedy} ({@code whose} may be empty). */
    static String inUse(int port, String whose, String remedy) {
        return "port " + port + (whose.isEmpty() ? "" : " (" + whose + ")") + " is already in use; " + remedy;
    }

    /**
     * Fails with the line of the first port that cannot be bound now. Ports 0 (any free port) and below (none) are
     * not checked. Another process may still take a port before it is bound; this only catches the common case of one
     * already held.
     */
    static void requireFree(List<Port> ports) {
        for (Port port : ports) {
            if (port.number() > 0 && !free(port.host(), port.number())) {
                throw new IllegalStateException(port.inUse());
            }
        }
    }

    /**
     * The line for {@code error} when it is a bind that failed on a port in use: that of the port the failure names
     * (Kafka's "failed to bind to 127.0.0.1:9092"), or of the only port; empty for any other failure, or when
     * several ports could be the one.
     */
    static Optional<String> describeInUse(Throwable error, List<Port> ports) {
        if (!isInUse(error)) {
            return Optional.empty();
        }
        if (ports.size() == 1) {
            return Optional.of(ports.get(0).inUse());
        }
        return ports.stream().filter(port -> mentions(error, port.number())).findFirst().map(Port::inUse);
    }

    /**
     * Whether the failure, or one of its causes, is a port in use. Only that: a bind refused otherwise ("Cannot assign
     * requested address" for an address of another machine, "Permission denied" below 1024) is reported as it is.
     */
    static boolean isInUse(Throwable error) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t.getMessage() != null && t.getMessage().contains(IN_USE)) {
                return true;
            }
        }
        return false;
    }

    private static boolean mentions(Throwable error, int port) {
        Pattern address = Pattern.compile(":" + port + "(?!\\d)");
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t.getMessage() != null && address.matcher(t.getMessage()).find()) {
                return true;
            }
        }
        return false;
    }

    /**
     * True when {@code host:port} can be bound now (or the host is unknown here, or the address is not this
     * machine's: the process that binds it says so itself).
     */
    private static boolean free(String host, int port) {
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
            return !isInUse(e);
        }
    }
}
