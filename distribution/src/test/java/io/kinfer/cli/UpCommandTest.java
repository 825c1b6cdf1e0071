package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * What {@code kinfer up} hands its worker and gateway processes, resolved before anything starts (the processes
 * themselves: UpCommandIT, UpSettingsIT): the merged settings (file, then environment, then up's flags) decide
 * models, partitions and ports, and up's flags reach the children in their environment, not on their command lines.
 */
class UpCommandTest {

    private static UpCommand up(String... args) {
        UpCommand up = new UpCommand();
        new CommandLine(up).parseArgs(args);
        return up;
    }

    @Test
    void theFileAndTheEnvironmentDecideWhatUpsOptionsDoNotSay(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("kinfer.properties"),
                "worker.models=minilm\ntopics.partitions=3\ngateway.port=18181\n");
        UpCommand up = up("--config", config.toString(), "--workers", "2");

        UpCommand.Launch launch = up.resolve(Map.of("KINFER_METRICS_PORT", "9500"));

        assertThat(launch.models()).containsExactly("minilm");
        assertThat(launch.partitions()).isEqualTo(3);
        assertThat(up.metricsPort(launch, 1)).isEqualTo(9501);
        assertThat(up.metricsPort(launch, 2)).isEqualTo(9502);
        List<String> worker = up.workerArgs(launch, 1, "127.0.0.1:9092");
        assertThat(worker).doesNotContain("--models", "--set").containsSubsequence("--config",
                config.toAbsolutePath().toString());
        assertThat(String.join(" ", worker)).doesNotContain("topics.partitions", "minilm");
        assertThat(up.gatewayArgs(launch, "127.0.0.1:9092")).doesNotContain("--port");
        assertThat(launch.childEnvironment()).isEmpty();
        // gateway.default.model (sentiment) is not served: the suggested /predict names the model that is.
        assertThat(launch.predictExample()).isEqualTo("{\"model\":\"minilm\",\"text\":\"I love this product\"}");
        assertThat(up().resolve(Map.of()).predictExample()).isEqualTo("{\"text\":\"I love this product\"}");
    }

    @Test
    void twoOfUpsOwnProcessesOnOnePortOrNoWorkerAreRefusedBeforeAnythingStarts() {
        UpCommand up = up("--workers", "1", "--kafka-port", "25092", "--port", "25080", "--metrics-base-port", "25092");

        // worker-1's metrics would be 25093, the broker's controller port: each free alone, the worker failed.
        assertThatThrownBy(() -> up.requireDistinct(up.resolve(Map.of()))).hasMessage("port 25093 would be both the "
                + "broker's controller (--kafka-port + 1) and worker-1's metrics (--metrics-base-port + 1); choose "
                + "ports that do not overlap");
        assertThatThrownBy(() -> up("--workers", "0").resolve(Map.of())).hasMessageContaining("at least one worker");
    }

    /**
     * Out-of-range port flags are refused naming up's flag, before anything starts: --metrics-base-port -5 failed in
     * worker-1 (after the gateway had started) naming --metrics-port, and --kafka-port -3 with Kafka's stack trace.
     */
    @Test
    void portFlagsOutOfRangeAreRefusedNamingUpsFlag() {
        UpCommand negative = up("--workers", "2", "--metrics-base-port", "-5");
        assertThatThrownBy(() -> negative.requireDistinct(negative.resolve(Map.of())))
                .hasMessageStartingWith("--metrics-base-port -5 is out of range: worker i serves on PORT + i, so 1 to "
                        + "65533 for 2 worker(s)");
        UpCommand high = up("--workers", "1", "--metrics-base-port", "65535");
        assertThatThrownBy(() -> high.requireDistinct(high.resolve(Map.of())))
                .hasMessageStartingWith("--metrics-base-port 65535 is out of range");
        UpCommand broker = up("--kafka-port", "-3");
        assertThatThrownBy(() -> broker.requireDistinct(broker.resolve(Map.of())))
                .hasMessageStartingWith("--kafka-port -3 is out of range: 1 to 65534");
        UpCommand fromSettings = up("--workers", "1");
        assertThatThrownBy(() -> fromSettings.requireDistinct(fromSettings.resolve(Map.of("KINFER_METRICS_PORT",
                "65535")))).hasMessageStartingWith("metrics.port 65535 is out of range");
        UpCommand none = up("--workers", "2", "--metrics-base-port", "-1");
        none.requireDistinct(none.resolve(Map.of())); // -1: no metrics, fine
    }

    @Test
    void stoppingWaitsForEachPartsOwnDrainSetting() {
        // The defaults give the waits up had fixed (gateway 15 s, workers 45 s); a longer drain is waited for.
        assertThat(UpCommand.waitSeconds(5_000, 10)).isEqualTo(15);
        assertThat(UpCommand.waitSeconds(30_000, 15)).isEqualTo(45);
        assertThat(UpCommand.waitSeconds(120_000, 15)).isEqualTo(135);
        assertThat(UpCommand.waitSeconds(1, 15)).isEqualTo(16);
    }

    @Test
    void upsOwnFlagsWinAndTravelInTheChildrensEnvironment(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("kinfer.properties"), "worker.models=minilm\n");
        UpCommand up = up("--config", config.toString(), "--models", "sentiment", "--partitions", "2", "--port",
                "18080", "--set", "gateway.api.keys=s3cret-1,s3cret-2",
                "--set", "kafka.sasl.jaas.config=PlainLoginModule required password=\"jaas-s3cret\";");

        UpCommand.Launch launch = up.resolve(Map.of("KINFER_WORKER_MODELS", "minilm"));

        assertThat(launch.models()).containsExactly("sentiment");
        assertThat(launch.partitions()).isEqualTo(2);
        assertThat(launch.apiKey()).isEqualTo("s3cret-1");
        assertThat(launch.childEnvironment()).containsEntry("KINFER_WORKER_MODELS", "sentiment")
                .containsEntry("KINFER_TOPICS_PARTITIONS", "2")
                .containsEntry("KINFER_GATEWAY_PORT", "18080")
                .containsEntry("KINFER_GATEWAY_API_KEYS", "s3cret-1,s3cret-2")
                .containsKey("KINFER_KAFKA_SASL_JAAS_CONFIG");
        // The gateway's port is the gateway's alone: a worker listed it as an unknown key in its start-up line.
        assertThat(launch.workerEnvironment()).doesNotContainKey("KINFER_GATEWAY_PORT")
                .containsEntry("KINFER_WORKER_MODELS", "sentiment").containsEntry("KINFER_TOPICS_PARTITIONS", "2");
        List<String> commandLines = new ArrayList<>(up.workerArgs(launch, 1, "127.0.0.1:9092"));
        commandLines.addAll(up.gatewayArgs(launch, "127.0.0.1:9092"));
        assertThat(String.join(" ", commandLines)).doesNotContain("s3cret").doesNotContain("gateway.api.keys");
    }

    @Test
    void aConfiguredClusterGivesWayToUpsOwnBrokerUnlessGivenToUp(@TempDir Path dir) throws Exception {
        Path config = Files.writeString(dir.resolve("kinfer.properties"), "kafka.bootstrap.servers=other:9092\n");

        UpCommand.Launch own = up("--config", config.toString()).resolve(Map.of());
        UpCommand.Launch given = up("--config", config.toString(), "--set", "kafka.bootstrap.servers=mine:9092")
                .resolve(Map.of());

        assertThat(own.externalBootstrap()).isNull();
        assertThat(own.ignoredBootstrap()).isEqualTo("other:9092 (from config file " + config + ")");
        assertThat(given.externalBootstrap()).isEqualTo("mine:9092");
        assertThat(given.ignoredBootstrap()).isNull();
        assertThat(up("--kafka", "k:1").resolve(Map.of()).externalBootstrap()).isEqualTo("k:1");
    }

    @Test
    void aValueThatCannotTravelAsAVariableGoesAsAFlagUnlessItIsSecret() {
        UpCommand up = up("--set", "gateway.default.model=", "--set", "jobs.streams.some_key=1");
        UpCommand.Launch launch = up.resolve(Map.of());

        assertThat(up.gatewayArgs(launch, "b:1")).containsSubsequence("--set", "gateway.default.model=")
                .containsSubsequence("--set", "jobs.streams.some_key=1");
        assertThatThrownBy(() -> up("--set", "kafka.sasl.Jaas.config=x").resolve(Map.of()))
                .hasMessageContaining("--set kafka.sasl.Jaas.config").hasMessageContaining("--config");
    }

    @Test
    void severalWorkersGetDistinctIdsAndMetricsPorts() {
        UpCommand up = up("--workers", "2", "--metrics-base-port", "19400", "--set", "worker.id=w");
        UpCommand.Launch launch = up.resolve(Map.of());

        assertThat(up.workerArgs(launch, 1, "b:1")).containsSubsequence("--id", "w-1", "--metrics-port", "19401");
        assertThat(up.workerArgs(launch, 2, "b:1")).containsSubsequence("--id", "w-2", "--metrics-port", "19402");
        UpCommand off = up("--set", "metrics.port=-1");
        assertThat(off.metricsPort(off.resolve(Map.of()), 2)).isEqualTo(-1);
    }

    @Test
    void aPortUpWouldBindNamesTheFlagThatGaveIt() {
        UpCommand up = up("--workers", "1", "--port", "18080", "--kafka-port", "19092", "--metrics-base-port", "19400");

        List<String> lines = up.ports(up.resolve(Map.of())).stream().map(LocalPorts.Port::inUse).toList();

        assertThat(lines).containsExactly(
                "port 19092 (the local Kafka broker's) is already in use; choose another with --kafka-port PORT (it "
                        + "uses PORT and PORT + 1), or use a running cluster with --kafka HOST:PORT",
                "port 19093 (the local Kafka broker's controller) is already in use; choose another with --kafka-port "
                        + "PORT (it uses PORT and PORT + 1), or use a running cluster with --kafka HOST:PORT",
                "port 18080 (the gateway's, gateway.port from --port) is already in use; choose another with --port "
                        + "PORT",
                "port 19401 (worker-1's metrics) is already in use; choose other ports with --metrics-base-port PORT "
                        + "(worker i uses PORT + i)");
        UpCommand external = up("--kafka", "k:1");
        assertThat(external.ports(external.resolve(Map.of()))).noneMatch(port -> port.inUse().contains("Kafka"));
    }

    @Test
    void readinessChecksSendTheFirstKeyAndATimeoutSaysWhatTheGatewayLastAnswered() throws Exception {
        List<String> authorizations = new java.util.concurrent.CopyOnWriteArrayList<>();
        HttpServer gateway = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        gateway.createContext("/", exchange -> {
            authorizations.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            exchange.sendResponseHeaders(exchange.getRequestURI().getPath().startsWith("/v2/health/") ? 200 : 401, -1);
            exchange.close();
        });
        gateway.start();
        try {
            String url = "http://127.0.0.1:" + gateway.getAddress().getPort();
            UpCommand up = up("--ready-timeout", "1");

            // A deadline already passed: one try of each path, then the verdict.
            assertThatThrownBy(() -> up.awaitReady(url, List.of("sentiment"), "k1", System.nanoTime()))
                    .isInstanceOf(TimeoutException.class)
                    .hasMessage(url + "/v2/models/sentiment/ready did not answer 200 within 1 s (it answered 401, "
                            + "refusing the first of gateway.api.keys)");
            assertThat(authorizations).isNotEmpty().containsOnly("Bearer k1");
        } finally {
            gateway.stop(0);
        }
    }
}
