package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code kinfer perf run} as a user calls it, against a stand-in gateway that wants an API key (the real gateway
 * is in PerfAgainstPipelineTest): the settings (--config, --set, KINFER_*) name the gateway and its key, as they
 * do for every other command, and a gateway that is not there fails the command at once.
 */
class PerfCommandTest {

    private final Vertx vertx = Vertx.vertx();
    /** The Authorization header of every call the stand-in gateway got. */
    private final List<String> authorizations = new CopyOnWriteArrayList<>();
    private final StringWriter err = new StringWriter();

    /** Answers /predict as the gateway does, 401 without "Bearer k1"; /v2/health/live is open, as ops paths are. */
    private int gatewayWantingKey() throws Exception {
        return vertx.createHttpServer().requestHandler(request -> {
            if (request.path().equals("/v2/health/live")) {
                request.response().end("{\"live\":true}");
                return;
            }
            String authorization = request.getHeader("Authorization");
            authorizations.add(String.valueOf(authorization));
            if (!"Bearer k1".equals(authorization)) {
                request.response().setStatusCode(401).end("{\"error\":\"unauthorized\"}");
                return;
            }
            request.response().putHeader("Content-Type", "application/json").end("{\"label\":\"positive\","
                    + "\"timings\":{\"queue_ms\":0.1,\"inference_ms\":1.0,\"batch_size\":1}}");
        }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS).actualPort();
    }

    private int perf(String... args) {
        CommandLine cli = new CommandLine(new PerfCommand());
        cli.setErr(new PrintWriter(err, true));
        return cli.execute(args);
    }

    @Test
    void theConfigFileNamesTheGatewaysPortAndItsApiKey(@TempDir Path dir) throws Exception {
        int port = gatewayWantingKey();
        Path config = Files.writeString(dir.resolve("kinfer.properties"),
                "gateway.port=" + port + "\ngateway.api.keys=k1,k2\n");

        int exit = perf("run", "--config", config.toString(), "--users", "1", "--duration", "1s", "--warmup", "0s");

        assertThat(exit).as(err.toString()).isZero();
        assertThat(authorizations).isNotEmpty().containsOnly("Bearer k1");
    }

    @Test
    void theApiKeyOptionIsSentWithEveryCall() throws Exception {
        int port = gatewayWantingKey();

        int exit = perf("run", "--url", "http://127.0.0.1:" + port, "--api-key", "k1", "--users", "1",
                "--duration", "1s", "--warmup", "0s");

        assertThat(exit).as(err.toString()).isZero();
        assertThat(authorizations).isNotEmpty().containsOnly("Bearer k1");
    }

    @Test
    void aGatewayThatIsNotThereFailsTheCommandAtOnce() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }

        int exit = perf("run", "--url", "http://127.0.0.1:" + port, "--users", "4", "--duration", "3s",
                "--warmup", "0s");

        assertThat(exit).isEqualTo(1);
        assertThat(err.toString()).contains("cannot connect to http://127.0.0.1:" + port + " (connection refused)");
    }

    @Test
    void theDefaultUrlIsTheGatewayOfTheSettings() {
        assertThat(defaultUrl(Map.of())).isEqualTo("http://127.0.0.1:8080");
        assertThat(defaultUrl(Map.of("gateway.host", "10.1.2.3", "gateway.port", " 9000 ")))
                .isEqualTo("http://10.1.2.3:9000");
        assertThat(defaultUrl(Map.of("gateway.host", "0.0.0.0", "gateway.port", "18080")))
                .isEqualTo("http://127.0.0.1:18080");
        assertThatThrownBy(() -> defaultUrl(Map.of("gateway.port", "eighty")))
                .hasMessage("gateway.port: not a port: eighty");
    }

    private static String defaultUrl(Map<String, String> settings) {
        return PerfCommand.LoadOptions.defaultUrl(settings);
    }

    @AfterEach
    void close() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }
}
