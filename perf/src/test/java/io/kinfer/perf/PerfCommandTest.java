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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
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

    /** Answers /predict as the gateway does, but every {@code nth} call with 503. */
    private int gatewayFailingEvery(int nth) throws Exception {
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        return vertx.createHttpServer().requestHandler(request -> {
            if (request.path().equals("/v2/health/live")) {
                request.response().end("{\"live\":true}");
            } else if (calls.incrementAndGet() % nth == 0) {
                request.response().setStatusCode(503).end("{\"error\":\"unavailable\"}");
            } else {
                request.response().putHeader("Content-Type", "application/json").end("{\"label\":\"positive\","
                        + "\"timings\":{\"queue_ms\":0.1,\"inference_ms\":1.0,\"batch_size\":1}}");
            }
        }).listen(0, "127.0.0.1").await(10, TimeUnit.SECONDS).actualPort();
    }

    /** A port nothing listens on: a command that gets as far as its load fails at once (exit 1), not as a usage error. */
    private static int closedPort() throws Exception {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
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

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--arrivals uniform --rate 5                  | Invalid value for option '--arrivals'",
        "--users 0                                    | --users must be at least 1",
        "--rate -3                                    | --rate must be positive",
        "-b 0                                         | --batch must be at least 1",
        "--users 4 --sweep-rates 10,20                | --users and --sweep-rates: give one of",
        "--rate 5 --sweep-users 1,2                   | --rate and --sweep-users: give one of",
        "--users 4 --arrivals constant                | --arrivals applies to an open loop",
        "--sweep-users 1,0                            | --sweep-users must all be at least 1",
        "--duration 0s                                | --duration must be positive",
        "--max-failure-rate 150                       | --max-failure-rate must be a percentage",
        "--target foo                                 | Invalid value for option '--target'",
    })
    void badValuesAreRefusedBeforeAnyLoadAsAUsageErrorOfPerfRun(String arguments, String message) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("run", "--url", "http://127.0.0.1:" + closedPort(),
                "--warmup", "0s"));
        if (!arguments.contains("--duration")) {
            args.addAll(List.of("--duration", "1s"));
        }
        args.addAll(List.of(arguments.trim().split(" +")));

        int exit = perf(args.toArray(String[]::new));

        // 2, a usage error, before the gateway is even tried (it is not there: trying it exits 1); before, some
        // ran anyway (uniform arrivals ran Poisson, --users 4 with a sweep ran only the sweep), some failed only
        // after the warm-up and the whole duration, and --target foo printed the usage of "<main class>".
        assertThat(exit).as(err.toString()).isEqualTo(2);
        assertThat(err.toString()).contains(message).contains("Usage: perf run").doesNotContain("<main class>")
                .doesNotContain("cannot connect");
    }

    @Test
    void perfCeilingRefusesTheOptionsOnlyALoadUsesInsteadOfIgnoringThem() {
        // They were in its --help (one mixin with perf run) and silently did nothing: --profile profiled nothing.
        int exit = perf("ceiling", "--profile", "--duration", "1s");

        assertThat(exit).isEqualTo(2);
        assertThat(err.toString()).contains("--profile applies to a load").contains("Usage: perf ceiling");
        err.getBuffer().setLength(0);
        assertThat(perf("ceiling", "--timeout", "2s")).isEqualTo(2);
        assertThat(err.toString()).contains("--timeout applies to a load");
    }

    @Test
    void perfCeilingRefusesABatchOfZeroBeforeLoadingTheModel() {
        int exit = perf("ceiling", "--ceiling-batch", "0", "--grouping", "arrival");

        assertThat(exit).isEqualTo(2);
        assertThat(err.toString()).contains("--ceiling-batch must be at least 1").contains("Usage: perf ceiling");
    }

    @Test
    void moreFailuresThanTheMaximumRateFailTheCommandAfterItsReport(@TempDir Path dir) throws Exception {
        String url = "http://127.0.0.1:" + gatewayFailingEvery(10); // 10 % of the calls fail
        Path json = dir.resolve("r.json");

        int strict = perf("run", "--url", url, "--users", "1", "--duration", "1s", "--warmup", "0s",
                "--json", json.toString());
        String strictErr = err.toString();
        int lenient = perf("run", "--url", url, "--users", "1", "--duration", "1s", "--warmup", "0s",
                "--max-failure-rate", "50");

        // The default maximum is 1 %: before, only a load where every call failed exited non-zero.
        assertThat(strict).as(strictErr).isEqualTo(1);
        assertThat(strictErr).contains("users=1: ").contains("more than --max-failure-rate 1.0 %");
        assertThat(PerfReport.read(json).runs().get(0).failuresByKind()).containsOnlyKeys("http_503");
        assertThat(lenient).as(err.toString()).isZero();
    }

    @Test
    void aProcessThatCannotBeProfiledCostsItsProfileNotTheReport(@TempDir Path dir) throws Exception {
        int port = gatewayWantingKey();
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path json = dir.resolve("r.json");

        int exit = perf("run", "--url", "http://127.0.0.1:" + port, "--api-key", "k1", "--users", "1",
                "--duration", "1s", "--warmup", "0s", "--profile", "--profile-pid", Long.toString(gone.pid()),
                "--out", dir.toString(), "--json", json.toString());

        // Before, the failed JFR.start ended the command before any load, with no report.
        assertThat(exit).as(err.toString()).isZero();
        assertThat(PerfReport.read(json).runs()).hasSize(1);
    }

    @Test
    void theDefaultUrlIsTheGatewayOfTheSettings() {
        assertThat(defaultUrl(Map.of())).isEqualTo("http://127.0.0.1:8080");
        assertThat(defaultUrl(Map.of("gateway.host", "10.1.2.3", "gateway.port", " 9000 ")))
                .isEqualTo("http://10.1.2.3:9000");
        assertThat(defaultUrl(Map.of("gateway.host", "0.0.0.0", "gateway.port", "18080")))
                .isEqualTo("http://127.0.0.1:18080");
        assertThatThrownBy(() -> defaultUrl(Map.of("gateway.port", "eighty")))
                .hasMessage("gateway.port (read from the settings to find the gateway): not a port from 1 to 65535: "
                        + "eighty; fix it, or give --url");
        // Before: "port p must be in range 0 <= p <= 65535", naming neither the setting nor the way out.
        assertThatThrownBy(() -> defaultUrl(Map.of("gateway.port", "70000"))).hasMessageStartingWith("gateway.port ");
    }

    private static String defaultUrl(Map<String, String> settings) {
        return PerfCommand.LoadOptions.defaultUrl(settings);
    }

    @AfterEach
    void close() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }
}
