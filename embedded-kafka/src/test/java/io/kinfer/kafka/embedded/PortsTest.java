package io.kinfer.kafka.embedded;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class PortsTest {

    @Test
    void consecutivePortsBelowTheEphemeralRangeCanAllBeBound() throws IOException {
        int first = Ports.freeConsecutive(4);

        assertThat(first).isBetween(20_000, 32_000 - 4);
        List<ServerSocket> bound = new ArrayList<>();
        try {
            for (int port = first; port < first + 4; port++) {
                bound.add(new ServerSocket(port, 1, InetAddress.getLoopbackAddress()));
            }
            assertThat(bound).extracting(ServerSocket::getLocalPort)
                    .containsExactly(first, first + 1, first + 2, first + 3);
        } finally {
            for (ServerSocket socket : bound) {
                socket.close();
            }
        }
    }

    @Test
    void aRangeWithABoundPortIsNotFree() throws IOException {
        int first = Ports.freeConsecutive(3);
        try (ServerSocket middle = new ServerSocket(first + 1, 1, InetAddress.getLoopbackAddress())) {
            assertThat(Ports.allFree(first, 3)).isFalse();
            assertThat(Ports.allFree(first + 1, 1)).isFalse();
            assertThat(Ports.allFree(first, 1)).isTrue();
            assertThat(Ports.allFree(first + 2, 1)).isTrue();
        }
        assertThat(Ports.allFree(first, 3)).isTrue();
    }
}
