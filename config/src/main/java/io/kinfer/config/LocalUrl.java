package io.kinfer.config;

import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * The URL a process on this machine reaches an HTTP server at, from the address the server binds: the gateway's own
 * ready line and {@code kinfer up}'s checks, and {@code kinfer perf}'s default target, read it the same way.
 */
public final class LocalUrl {

    private LocalUrl() {
    }

    /**
     * {@code http://host:port}: 127.0.0.1 for an empty host or one that binds every address (0.0.0.0, ::), which
     * cannot be connected to; an IPv6 literal in brackets; a name as it is (never looked up here).
     */
    public static String http(String bindHost, int port) {
        return http(bindHost, port, "127.0.0.1");
    }

    /** As {@link #http(String, int)}, with {@code wildcardHost} for an empty or every-address bind. */
    public static String http(String bindHost, int port, String wildcardHost) {
        String host = bindHost == null ? "" : bindHost.trim();
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (host.isEmpty() || isWildcard(host)) {
            host = wildcardHost;
        }
        if (host.contains(":")) {
            host = "[" + host + "]";
        }
        return "http://" + host + ":" + port;
    }

    private static boolean isWildcard(String host) {
        if (host.equals("0.0.0.0")) {
            return true;
        }
        if (!host.contains(":") || !host.matches("[0-9A-Fa-f:.]+")) {
            return false;
        }
        try {
            return InetAddress.getByName(host).isAnyLocalAddress(); // an IPv6 literal: parsed, never looked up
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
