package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * What a user sees when a command cannot start, each command run as its own JVM (from the test classpath) as a user
 * runs it: one line {@code kinfer <command>: ...} naming where a bad value came from, or which flag moves a port in
 * use, instead of a stack trace; a setting no kinfer part defines is warned about.
 */
class CommandErrorsTest {

    /** Exit code and the lines of standard error of {@code kinfer args...}. */
    private record Run(int exit, List<String> err) {
    }

    private static Run kinfer(Map<String, String> environment, String... args) throws Exception {
        // Logging as the jar configures it (to standard error), not as the tests' logback-test.xml does.
        String logging = Path.of(Kinfer.class.getResource("/logback.xml").toURI()).toString();
        List<String> command = ChildJvm.command("-Dlogback.configurationFile=" + logging, "-cp",
                System.getProperty("java.class.path"), Kinfer.class.getName());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(ProcessBuilder.Redirect.DISCARD);
        builder.environment().keySet().removeIf(name -> name.startsWith("KINFER_"));
        builder.environment().putAll(environment);
        Process process = builder.start();
        String err = new String(process.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("kinfer %s ended", List.of(args)).isTrue();
        return new Run(process.exitValue(), err.lines().filter(line -> !line.isBlank()).toList());
    }

    @Test
    void aBadValueGivenWithSetIsOneLineNamingTheFlag() throws Exception {
        Run run = kinfer(Map.of(), "worker", "--set", "batch.max.size=abc", "--metrics-port", "-1");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err()).containsExactly("kinfer worker: Invalid value abc for configuration batch.max.size: "
                + "Not a number of type INT (from --set batch.max.size)");
    }

    @Test
    void aBadValueOfANamedFlagNamesThatFlag() throws Exception {
        Run run = kinfer(Map.of(), "worker", "--metrics-port", "99999");

        assertThat(run.exit()).isEqualTo(1);
        // Before: "(from a command-line option)", which left the user to find which one.
        assertThat(run.err()).containsExactly("kinfer worker: Invalid value 99999 for configuration metrics.port: "
                + "Value must be no more than 65535 (from --metrics-port)");
    }

    @Test
    void aBadValueFromTheEnvironmentNamesTheVariable() throws Exception {
        Run run = kinfer(Map.of("KINFER_BATCH_MAX_SIZE", "0"), "worker", "--metrics-port", "-1");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err()).containsExactly("kinfer worker: Invalid value 0 for configuration batch.max.size: "
                + "Value must be at least 1 (from environment variable KINFER_BATCH_MAX_SIZE)");
    }

    @Test
    void aMissingConfigFileIsOneLine() throws Exception {
        Run run = kinfer(Map.of(), "gateway", "-c", "/nonexistent");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err()).containsExactly("kinfer gateway: cannot read config file /nonexistent (--config): "
                + "no such file");
    }

    @Test
    void debugLoggingAddsTheStackTrace() throws Exception {
        Run run = kinfer(Map.of("KINFER_LOG_LEVEL", "DEBUG"), "gateway", "-c", "/nonexistent");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err().get(0)).isEqualTo("kinfer gateway: cannot read config file /nonexistent (--config): "
                + "no such file");
        assertThat(run.err()).anyMatch(line -> line.startsWith("\tat io.kinfer.config.ConfigLoader"));
    }

    @Test
    void aBrokerPortInUseNamesThePortAndTheFlag() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();

            Run run = kinfer(Map.of(), "broker", "--port", Integer.toString(port), "--controller-port", "0");

            assertThat(run.exit()).isEqualTo(1);
            assertThat(run.err()).containsExactly("kinfer broker: port " + port + " is already in use (another "
                    + "Kafka broker?); choose another with --port PORT, or use the broker that holds it");
        }
    }

    @Test
    void upWithItsBrokerPortInUseNamesKafkaPortAndKafka() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();

            Run run = kinfer(Map.of(), "up", "--kafka-port", Integer.toString(port));

            assertThat(run.exit()).isEqualTo(1);
            assertThat(run.err()).containsExactly("kinfer up: port " + port + " (the local Kafka broker's) is already "
                    + "in use; choose another with --kafka-port PORT (it uses PORT and PORT + 1), or use a running "
                    + "cluster with --kafka HOST:PORT");
        }
    }

    @Test
    void aSettingNoPartDefinesIsWarnedAboutWithTheNearestKey() throws Exception {
        // batch.max.size=abc stops the worker right after the warning, before it reaches for Kafka.
        Run run = kinfer(Map.of("KINFER_GATEWAY_PORT", "18080"), "worker", "--metrics-port", "-1",
                "--set", "batch.max.szie=16", "--set", "kafka.consumer.max.poll.records=5",
                "--set", "jobs.streams.num.standby.replicas=1", "--set", "batch.max.size=abc");

        List<String> warnings = run.err().stream().filter(line -> line.contains("WARN")).toList();
        // A gateway setting in a worker's settings (a shared file) and the pass-through keys are not warned about.
        assertThat(warnings).hasSize(1);
        assertThat(warnings.get(0)).endsWith("unknown setting, ignored: batch.max.szie (from --set batch.max.szie; "
                + "did you mean batch.max.size?)");
    }

    @Test
    void upsChildrenDoNotRepeatUpsWarning() throws Exception {
        Run run = kinfer(Map.of("KINFER_PARENT_PID", Long.toString(ProcessHandle.current().pid()),
                "KINFER_BATCH_MAX_SZIE", "16"), "worker", "--metrics-port", "-1", "--set", "batch.max.size=abc");

        assertThat(run.err()).noneMatch(line -> line.contains("WARN"));
        assertThat(run.exit()).isEqualTo(1);
    }

    @Test
    void anUnknownSettingFromTheEnvironmentNamesTheVariable() throws Exception {
        Run run = kinfer(Map.of("KINFER_BATCH_MAX_SZIE", "16"), "worker", "--metrics-port", "-1",
                "--set", "batch.max.size=abc");

        assertThat(run.err()).anyMatch(line -> line.contains("WARN") && line.endsWith("batch.max.szie (from "
                + "environment variable KINFER_BATCH_MAX_SZIE; did you mean batch.max.size?)"));
    }

    /**
     * Keys under kafka. and jobs.streams. were never checked: kafka.bootstrap.server meant a silent minute of trying
     * 127.0.0.1:9092. One Kafka's clients do not define is warned about (and still passed on: a plugin may read it).
     */
    @Test
    void aKafkaSettingKafkasClientsDoNotDefineIsWarnedAboutWithTheNearest() throws Exception {
        Run run = kinfer(Map.of(), "worker", "--metrics-port", "-1", "--set", "kafka.bootstrap.server=127.0.0.1:1",
                "--set", "kafka.consumer.max.poll.recrods=5", "--set", "kafka.producer.linger.ms=1",
                "--set", "jobs.streams.num.standby.replica=1", "--set", "batch.max.size=abc");

        assertThat(run.err()).anyMatch(line -> line.contains("WARN") && line.endsWith("not a setting of Kafka's "
                + "clients, passed on as given (a plugin's own?): jobs.streams.num.standby.replica (from --set "
                + "jobs.streams.num.standby.replica; did you mean jobs.streams.num.standby.replicas?), "
                + "kafka.bootstrap.server (from --set kafka.bootstrap.server; did you mean kafka.bootstrap.servers?), "
                + "kafka.consumer.max.poll.recrods (from --set kafka.consumer.max.poll.recrods; did you mean "
                + "kafka.consumer.max.poll.records?)"));
        assertThat(run.err()).noneMatch(line -> line.contains("kafka.producer.linger.ms"));
    }

    /** A bad Kafka client value named only Kafka's own key; now the kinfer setting that carried it and its source. */
    @Test
    void aBadKafkaClientValueNamesTheSettingThatCarriedItAndWhereFrom() throws Exception {
        Run run = kinfer(Map.of(), "worker", "--metrics-port", "-1", "--set", "kafka.producer.linger.ms=abc");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err()).anyMatch(line -> line.startsWith("kinfer worker: Invalid value abc for configuration "
                + "linger.ms") && line.endsWith("(kafka.producer.linger.ms, from --set kafka.producer.linger.ms)"));
    }

    @Test
    void theRootCauseOfAWrappedFailureIsShown() {
        RuntimeException wrapped = new RuntimeException("Failed to create new KafkaAdminClient",
                new RuntimeException("Failed to create new NetworkClient",
                        new IllegalArgumentException("JAAS config entry not terminated by semi-colon")));

        assertThat(CliErrors.message(wrapped)).isEqualTo("Failed to create new KafkaAdminClient: Failed to create new "
                + "NetworkClient: JAAS config entry not terminated by semi-colon");
    }

    /** Every subcommand takes -V (the standard help options); it printed nothing and exited 0 on all but the top. */
    @Test
    void everySubcommandAnswersVersion() {
        for (List<String> command : List.of(List.of("worker"), List.of("gateway"), List.of("up"), List.of("produce"),
                List.of("perf", "run"), List.of("models"), List.of("config"), List.of("broker"))) {
            java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
            java.io.PrintStream stdout = System.out;
            java.io.StringWriter out = new java.io.StringWriter();
            int exit;
            System.setOut(new java.io.PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                CommandLine cli = Kinfer.commandLine(Map.of());
                cli.setOut(new java.io.PrintWriter(out, true));
                List<String> args = new java.util.ArrayList<>(command);
                args.add("-V");
                exit = cli.execute(args.toArray(String[]::new));
            } finally {
                System.setOut(stdout);
            }
            assertThat(exit).as("%s -V", command).isZero();
            assertThat(out + captured.toString(StandardCharsets.UTF_8)).as("%s -V", command).startsWith("kinfer ");
        }
    }

    /** An empty model list started a worker that served nothing and was never ready, without a word. */
    @Test
    void aWorkerWithNoModelsIsRefused() throws Exception {
        Run run = kinfer(Map.of(), "worker", "--metrics-port", "-1", "-m", "");

        assertThat(run.exit()).isEqualTo(1);
        assertThat(run.err()).containsExactly("kinfer worker: Invalid value [] for configuration worker.models: name "
                + "at least one model, or * for every model (from --models)");
    }
}
