package io.kinfer.kafka.embedded;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free local ports for servers that must be told their port before they bind it (a KRaft controller in its quorum
 * voters, the pipeline's processes in tests).
 *
 * <p>Taken from 20000-31999, below the default ephemeral ranges (Linux 32768-60999, Windows and macOS
 * 49152-65535): a port that {@code new ServerSocket(0)} hands out is ephemeral, and in the seconds before the server
 * binds it a client's outgoing connection can take it as its local port (seen once in CI: "cannot serve metrics on
 * port 43852: Address already in use"). Below the range only an explicit bind takes a port (on a host whose
 * {@code ip_local_port_range} was widened below 32000 the window is smaller, not gone).
 */
public final class Ports {

    private static final int LOW = 20_000;
    private static final int HIGH = 32_000;

    private Ports() {
    }

    /** The first of {@code count} consecutive ports that are free on the loopback address now. */
    public static int freeConsecutive(int count) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        for (int attempt = 0; attempt < 100; attempt++) {
            int first = random.nextInt(LOW, HIGH - count);
            if (allFree(first, count)) {
                return first;
            }
        }
        throw new UncheckedIOException(new IOException(
                "no " + count + " free consecutive ports in " + LOW + "-" + HIGH + " after 100 tries"));
    }

    /** One free port. */
    public static int free() {
        return freeConsecutive(1);
    }

    /** Whether each of the {@code count} ports from {@code first} can be bound on the loopback address now. */
    static boolean allFree(int first, int count) {
        for (int port = first; port < first + count; port++) {
            try {
                new ServerSocket(port, 1, InetAddress.getLoopbackAddress()).close();
            } catch (IOException taken) {
                return false;
            }
        }
        return true;
    }
}
