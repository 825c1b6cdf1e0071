package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Optional;

import org.junit.jupiter.api.Test;

/**
 * A port in use is said one way, "port N (whose) is already in use; choose another with --flag", whether a command
 * finds it before starting a process or a bind fails on it; any other bind failure is reported as it is.
 */
class LocalPortsTest {

    @Test
    void aPortHeldFailsTheCheckWithItsLineAndAnyOrNoPortIsNotChecked() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            List<LocalPorts.Port> ports = List.of(new LocalPorts.Port("127.0.0.1", 0, "any free port"),
                    new LocalPorts.Port("127.0.0.1", -1, "none"),
                    new LocalPorts.Port("127.0.0.1", port, LocalPorts.inUse(port, "the thing's", "choose another")));

            assertThatThrownBy(() -> LocalPorts.requireFree(ports)).isInstanceOf(IllegalStateException.class)
                    .hasMessage("port " + port + " (the thing's) is already in use; choose another");
            LocalPorts.requireFree(ports.subList(0, 2));
        }
    }

    @Test
    void theBrokersBindFailureGetsTheLineOfThePortItNames() {
        List<LocalPorts.Port> ports = BrokerCommand.ports(List.of("--port", "19092", "--controller-port=19093"));
        // As Kafka's socket server fails.
        RuntimeException controller = new RuntimeException("Socket server failed to bind to 127.0.0.1:19093: "
                + "Address already in use.", new BindException("Address already in use"));
        RuntimeException broker = new RuntimeException("Socket server failed to bind to 127.0.0.1:19092: "
                + "Address already in use.", new BindException("Address already in use"));

        assertThat(LocalPorts.describeInUse(controller, ports)).contains("port 19093 (the KRaft controller's) is "
                + "already in use; choose another with --controller-port PORT");
        assertThat(LocalPorts.describeInUse(broker, ports)).contains("port 19092 is already in use (another Kafka "
                + "broker?); choose another with --port PORT, or use the broker that holds it");
        assertThat(LocalPorts.describeInUse(new BindException("Address already in use"), ports)).isEmpty();
        assertThat(BrokerCommand.ports(List.of("--help"))).isEmpty();
    }

    /** A port out of range is refused naming the flag: Kafka failed on it with a stack trace. */
    @Test
    void aBrokerPortOutOfRangeIsRefusedNamingTheFlag() {
        assertThatThrownBy(() -> BrokerCommand.ports(List.of("--port", "-3")))
                .hasMessage("--port -3 is out of range: 1 to 65535, or 0 for any free port");
        assertThatThrownBy(() -> BrokerCommand.ports(List.of("--controller-port=70000")))
                .hasMessageStartingWith("--controller-port 70000 is out of range");
        assertThat(BrokerCommand.ports(List.of("--port", "abc"))).as("the broker's parser says it").hasSize(2);
    }

    @Test
    void aGatewayOrWorkerBindFailureNamesThePortItsSettingAndTheFlag() {
        // Netty's native transport says it so, without a BindException.
        IOException nativeBind = new IOException("bind(..) failed: Address already in use");

        assertThat(CliErrors.describe(new IllegalStateException("cannot start", nativeBind), "gateway",
                key -> Optional.of("--set " + key), key -> Optional.of("18080")))
                .isEqualTo("port 18080 (gateway.port from --set gateway.port) is already in use; choose another "
                        + "with --port PORT (0: any free port)");
        assertThat(CliErrors.describe(new BindException("Address already in use"), "worker", key -> Optional.empty(),
                key -> Optional.empty()))
                .isEqualTo("port 9400 (metrics.port) is already in use; choose another with --metrics-port PORT "
                        + "(0: any free port, -1: none)");
    }

    @Test
    void aBindRefusedForAnotherReasonIsNotAPortInUse() {
        BindException otherMachine = new BindException("Cannot assign requested address");

        assertThat(LocalPorts.isInUse(otherMachine)).isFalse();
        assertThat(CliErrors.describe(otherMachine, "gateway", key -> Optional.empty(), key -> Optional.empty()))
                .isEqualTo("Cannot assign requested address");
    }
}
