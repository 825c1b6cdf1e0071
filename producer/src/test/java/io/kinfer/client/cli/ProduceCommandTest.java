package io.kinfer.client.cli;

import static org.assertj.core.api.Assertions.assertThat;

import static org.awaitility.Awaitility.await;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

@WithKafka
class ProduceCommandTest {

    @Test
    void publishesJsonLinesWaitsForRepliesAndWritesThemAsJsonLines(EmbeddedKafka kafka, @TempDir Path dir)
            throws Exception {
        kafka.createTopic("kinfer.requests.echo", 2);
        Path input = dir.resolve("in.jsonl");
        Path output = dir.resolve("out.jsonl");
        Files.write(input, List.of(
                "{\"id\":\"full\",\"model\":\"echo\",\"inputs\":[\"abcd\"]}",
                "{\"text\":\"hello\"}",
                "not json at all",
                "{\"id\":\"many\",\"texts\":[\"a\",\"bb\"]}"));
        try (AutoCloseable worker = new FakeWorker(kafka, "echo")) {
            int exit = new CommandLine(new ProduceCommand()).execute("--kafka", kafka.bootstrapServers(),
                    "--set", "client.id=produce-test", "--model", "echo", "--input", input.toString(),
                    "--output", output.toString(), "--wait", "--quiet");

            assertThat(exit).as("one line was invalid").isEqualTo(1);
        }
        JsonCodec codec = new JsonCodec();
        List<InferenceReply> replies = Files.readAllLines(output).stream().map(line -> {
            try {
                return codec.decodeReply(line.getBytes());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }).toList();
        assertThat(replies).extracting(InferenceReply::id).containsExactlyInAnyOrder("full", "line-2", "many");
        assertThat(replies).allMatch(InferenceReply::isSuccess);
    }

    @Test
    void invalidUtf8StopsTheInputAfterTheLinesBeforeItWereSent(EmbeddedKafka kafka, @TempDir Path dir)
            throws Exception {
        kafka.createTopic("kinfer.requests.echo3", 1);
        Path input = dir.resolve("bad.jsonl");
        Path output = dir.resolve("bad-out.jsonl");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes("{\"text\":\"one\"}\n{\"text\":\"two\"}\n{\"text\":\"".getBytes(StandardCharsets.UTF_8));
        bytes.write(0xC3); // a lead byte followed by a quote: not UTF-8
        bytes.writeBytes("\"}\n{\"text\":\"four\"}\n".getBytes(StandardCharsets.UTF_8));
        Files.write(input, bytes.toByteArray());
        assertThat(ProduceCommand.countLines(input)).isEqualTo(4);
        try (AutoCloseable worker = new FakeWorker(kafka, "echo3")) {
            int exit = new CommandLine(new ProduceCommand()).execute("--kafka", kafka.bootstrapServers(),
                    "--set", "client.id=produce-utf8", "--model", "echo3", "--input", input.toString(),
                    "--output", output.toString(), "--wait", "--quiet");

            assertThat(exit).isEqualTo(1);
        }
        assertThat(Files.readAllLines(output)).hasSize(2);
    }

    @Test
    void itChecksLinesWithTheWorkersProtocolLimits() {
        assertThat(ProduceCommand.limits(Map.of()).maxTensorElements()).isEqualTo(262_144);
        assertThat(ProduceCommand.limits(Map.of("protocol.max.tensor.elements", "1000000",
                "protocol.max.record.bytes", "4194304")))
                .extracting(l -> l.maxTensorElements(), l -> l.maxRecordBytes()).containsExactly(1_000_000L, 4_194_304);
    }

    @Test
    void anInvalidReplyTopicIsAUsageError(EmbeddedKafka kafka, @TempDir Path dir) throws Exception {
        Path input = dir.resolve("one.jsonl");
        Files.writeString(input, "{\"text\":\"one\"}\n");
        int exit = new CommandLine(new ProduceCommand()).execute("--kafka", kafka.bootstrapServers(),
                "--set", "client.id=produce-topic", "--input", input.toString(), "--reply-topic", "no spaces");

        assertThat(exit).isEqualTo(2);
    }

    @Test
    void itsFlagsWinOverTheConfigFileAndEveryLineIsAnswered(EmbeddedKafka kafka, @TempDir Path dir) throws Exception {
        kafka.createTopic("kinfer.requests.echo2", 2);
        Path input = dir.resolve("many.jsonl");
        Path output = dir.resolve("many-out.jsonl");
        Path config = dir.resolve("kinfer.properties");
        // A shared config file's client bound of 1 must not turn the command's window of 50 into overload failures.
        Files.writeString(config, "max.in.flight.requests=1\nrequest.timeout.ms=1\n");
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) {
            lines.add("{\"text\":\"text " + i + "\"}");
        }
        Files.write(input, lines);
        try (AutoCloseable worker = new FakeWorker(kafka, "echo2")) {
            int exit = new CommandLine(new ProduceCommand()).execute("--kafka", kafka.bootstrapServers(),
                    "--config", config.toString(), "--set", "client.id=produce-flags", "--model", "echo2",
                    "--input", input.toString(), "--output", output.toString(), "--wait", "--quiet",
                    "--max-in-flight", "50", "--timeout", "30000");

            assertThat(exit).isZero();
        }
        assertThat(Files.readAllLines(output)).hasSize(300);
    }

    @Test
    void withoutWaitItNeedsNoRightToCreateTopics(@TempDir Path dir) throws Exception {
        try (EmbeddedKafka acl = EmbeddedKafka.builder()
                .saslPlain(Map.of("admin", "admin-secret", "app", "app-secret"))
                .brokerProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
                .brokerProperty("super.users", "User:admin;User:ANONYMOUS")
                .brokerProperty("allow.everyone.if.no.acl.found", "true")
                .start();
             Admin admin = acl.admin()) {
            acl.createTopic("kinfer.requests.echo5", 1);
            AccessControlEntry denyCreate = new AccessControlEntry("User:app", "*", AclOperation.CREATE,
                    AclPermissionType.DENY);
            admin.createAcls(List.of(
                    new AclBinding(new ResourcePattern(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL),
                            denyCreate),
                    new AclBinding(new ResourcePattern(ResourceType.TOPIC, "kinfer.replies", PatternType.PREFIXED),
                            denyCreate))).all().get(30, TimeUnit.SECONDS);
            Path input = dir.resolve("ff.jsonl");
            Files.write(input, List.of("{\"text\":\"one\"}", "{\"text\":\"two\"}"));
            List<String> args = new ArrayList<>(List.of("--kafka", acl.bootstrapServers(), "--set",
                    "client.id=produce-acl", "--model", "echo5", "--input", input.toString(), "--quiet"));
            EmbeddedKafka.saslClientProperties("app", "app-secret").forEach((key, value) -> {
                args.add("--set");
                args.add("kafka." + key + "=" + value);
            });

            int exit = new CommandLine(new ProduceCommand()).execute(args.toArray(String[]::new));

            // Before, it made a request-reply client anyway, whose reply topic it could not create.
            assertThat(exit).isZero();
            TopicPartition partition = new TopicPartition("kinfer.requests.echo5", 0);
            assertThat(admin.listOffsets(Map.of(partition, OffsetSpec.latest())).partitionResult(partition)
                    .get(10, TimeUnit.SECONDS).offset()).isEqualTo(2);
        }
    }

    /** A produce command reading from a pipe the test writes, its summary captured; run on another thread. */
    private static final class PipedRun {
        final PipedOutputStream lines = new PipedOutputStream();
        final ByteArrayOutputStream summary = new ByteArrayOutputStream();
        final ProduceCommand command = new ProduceCommand();
        final CompletableFuture<Integer> exit;

        PipedRun(String... args) throws Exception {
            command.stdin = new PipedInputStream(lines, 1 << 16);
            command.err = new PrintStream(summary, true, StandardCharsets.UTF_8);
            exit = CompletableFuture.supplyAsync(() -> new CommandLine(command).execute(args));
        }

        void write(String... jsonLines) throws Exception {
            lines.write((String.join("\n", jsonLines) + "\n").getBytes(StandardCharsets.UTF_8));
            lines.flush();
        }

        String summary() {
            return summary.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void onASignalCallsInFlightMayFinishThenTheClientClosesAndTheSummaryIsPrinted(EmbeddedKafka kafka,
                                                                                   @TempDir Path dir) throws Exception {
        kafka.createTopic("kinfer.requests.echo6", 1);
        Path output = dir.resolve("signal-out.jsonl");
        try (FakeWorker worker = new FakeWorker(kafka, "echo6"); Admin admin = kafka.admin()) {
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-signal",
                    "--model", "echo6", "--output", output.toString(), "--wait", "--quiet");
            run.write("{\"id\":\"answered\",\"text\":\"one\"}", "{\"id\":\"hold-signal\",\"text\":\"two\"}");
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-signal"));

            // What the shutdown hook runs; its grace ends early once every call has ended.
            CompletableFuture<Void> stopped = CompletableFuture.runAsync(() -> run.command.stop(Duration.ofMinutes(1)));
            worker.release("hold-signal");
            stopped.get(60, TimeUnit.SECONDS);

            assertThat(run.summary()).contains("2 lines").contains("success=2");
            assertThat(Files.readAllLines(output)).hasSize(2);
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS)).doesNotContain("kinfer.replies.produce-signal");
            run.lines.close(); // in a real shutdown the JVM ends here; in this test the reading thread sees the end
            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isZero();
            assertThat(run.summary()).as("printed once").containsOnlyOnce("lines in");
        }
    }

    @Test
    void onASignalCallsStillOpenAfterTheGraceFailAsClosed(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo7", 1);
        try (FakeWorker worker = new FakeWorker(kafka, "echo7"); Admin admin = kafka.admin()) {
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-grace",
                    "--model", "echo7", "--output", dir().toString(), "--wait", "--quiet");
            run.write("{\"id\":\"hold-forever\",\"text\":\"one\"}");
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-forever"));

            run.command.stop(Duration.ZERO);

            assertThat(run.summary()).contains("1 lines").contains("closed=1");
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS)).doesNotContain("kinfer.replies.produce-grace");
            run.lines.close();
            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isEqualTo(1);
        }
    }

    @Test
    void withWaitAKafkaThatDoesNotAnswerIsSaidWhileTheStartWaitsForIt() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort(); // closed again: nothing answers there
        }
        ProduceCommand command = new ProduceCommand();
        command.stdin = new ByteArrayInputStream(new byte[0]);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        command.err = new PrintStream(err, true, StandardCharsets.UTF_8);
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread running = new Thread(() -> exit.complete(new CommandLine(command).execute("--kafka",
                "127.0.0.1:" + port, "--wait", "--quiet")));
        running.start();

        // Before, nothing was printed until the start gave up a minute later.
        await().atMost(Duration.ofSeconds(30)).until(() -> err.toString(StandardCharsets.UTF_8)
                .contains("waiting for Kafka at 127.0.0.1:" + port + "..."));
        running.interrupt(); // a Ctrl-C, rather than the minute
        assertThat(exit.get(60, TimeUnit.SECONDS)).isNotZero();
    }

    private static Path dir() throws java.io.IOException {
        Path file = Files.createTempFile("produce-grace", ".jsonl");
        file.toFile().deleteOnExit();
        return file;
    }
}
