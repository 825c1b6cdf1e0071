package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.Test;

/** Telling the measured pipeline's processes from another pipeline's on the same machine. */
class LocalPipelineTest {

    private static LocalPipeline.Member member(long pid, String... args) {
        return LocalPipeline.member(pid, List.of(args)).orElseThrow();
    }

    /** Two pipelines as perf/benchmark.sh runs them at once: `kinfer up` on 9092 and a failover one on 9392. */
    private final List<LocalPipeline.Member> twoPipelines = List.of(
            member(11, "java", "-jar", "distribution/target/kinfer.jar", "broker", "--port", "9092",
                    "--controller-port", "9093"),
            member(12, "java", "-jar", "/x/kinfer.jar", "worker", "--kafka", "127.0.0.1:9092", "--id", "worker-1"),
            member(13, "java", "-jar", "/x/kinfer.jar", "gateway", "--kafka", "127.0.0.1:9092"),
            member(21, "java", "-jar", "kinfer.jar", "broker", "--port", "9392", "--controller-port", "9393"),
            member(22, "java", "-jar", "kinfer.jar", "worker", "--kafka", "localhost:9392", "--id", "worker-1"),
            member(23, "java", "-jar", "kinfer.jar", "worker", "--kafka=127.0.0.1:9392", "--id", "worker-2"),
            member(24, "java", "-jar", "kinfer.jar", "gateway", "--kafka", "127.0.0.1:9392", "--port", "18580"));

    @Test
    void onlyTheProcessesOnTheTargetsClusterAreTheMeasuredPipeline() {
        LocalPipeline failover = LocalPipeline.select(twoPipelines, LocalPipeline.bootstraps("127.0.0.1:9392"), null);

        // Before, both pipelines' processes were counted, and both worker-1s added together under one name.
        assertThat(failover.members()).extracting(LocalPipeline.Member::pid).containsExactly(21L, 22L, 23L, 24L);
        assertThat(failover.members()).extracting(LocalPipeline.Member::name)
                .containsExactly("broker", "worker worker-1", "worker worker-2", "gateway");
        assertThat(failover.note()).isNull();
    }

    @Test
    void aNameTwoProcessesShareCarriesTheirPids() {
        List<LocalPipeline.Member> unique = LocalPipeline.unique(twoPipelines);

        assertThat(unique).extracting(LocalPipeline.Member::name).containsExactly("broker (pid 11)",
                "worker worker-1 (pid 12)", "gateway (pid 13)", "broker (pid 21)", "worker worker-1 (pid 22)",
                "worker worker-2", "gateway (pid 24)");
    }

    @Test
    void commandLinesThatAreNotAKinferProcessAreNotMembers() {
        assertThat(LocalPipeline.member(1, List.of("java", "-jar", "kinfer.jar", "perf", "run"))).isEmpty();
        assertThat(LocalPipeline.member(1, List.of("java", "-jar", "other.jar", "worker"))).isEmpty();
        assertThat(member(5, "java", "-jar", "kinfer.jar", "gateway", "--port", "18580").port()).isEqualTo(18580);
        assertThat(LocalPipeline.bootstraps("localhost:9092, 10.0.0.5:9093")).isEqualTo(Set.of("127.0.0.1:9092",
                "10.0.0.5:9093"));
    }

    @Test
    void theListeningProcessIsFoundByItsSocket() throws Exception {
        assumeTrue(Files.isReadable(Path.of("/proc/net/tcp")), "Linux /proc only");
        long self = ProcessHandle.current().pid();
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(LocalPipeline.listeningPid(socket.getLocalPort(), List.of(self))).contains(self);
        }
    }

    @Test
    void aProcTcpTableIsReadForListeningSockets() {
        List<String> table = List.of(
                "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
                "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1",
                "   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1",
                "   2: 00000000:2384 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1");

        assertThat(LocalPipeline.listeningInodes(table, 8080)).containsExactly("4242");
        assertThat(LocalPipeline.listeningInodes(table, 9092)).containsExactly("4444");
    }
}
