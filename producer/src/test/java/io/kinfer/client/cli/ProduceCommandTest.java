package io.kinfer.client.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
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
import java.util.concurrent.atomic.AtomicReference;

import javax.management.ObjectName;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.config.ConfigException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
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
        List<String> lines = Files.readAllLines(output);
        // A line for every input line: the invalid one's says why, with its line number (before, none).
        assertThat(lines).hasSize(4).filteredOn(line -> line.contains("\"line\":3")).singleElement().asString()
                .contains("\"code\":\"invalid_line\"");
        List<InferenceReply> replies = lines.stream().filter(line -> !line.contains("\"line\":3")).map(line -> {
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
    void theShortFormsAreCheckedAsTheWireFormIsAndKeepTheVersion() throws Exception {
        ProduceCommand produce = new ProduceCommand();
        produce.model = "sentiment";

        InferenceRequest pinned = produce.parse("{\"text\":\"pinned\",\"version\":\"2\"}", 7);
        assertThat(pinned.version()).isEqualTo("2"); // before, dropped: answered by the latest version
        assertThat(pinned.id()).isEqualTo("line-7");
        assertThat(pinned.model()).isEqualTo("sentiment");
        assertThat(produce.parse("{\"texts\":[\"a\",\"b\"],\"id\":\"x\",\"model\":\"minilm\"}", 1))
                .extracting(InferenceRequest::id, InferenceRequest::model).containsExactly("x", "minilm");
        // Before, sent as the texts "3", "null" and "true".
        assertThatThrownBy(() -> produce.parse("{\"texts\":[\"ok\",3,null,true]}", 1))
                .isInstanceOf(ProtocolException.class).hasMessage("texts[1] must be a string");
        assertThatThrownBy(() -> produce.parse("{\"text\":3}", 1)).hasMessage("'text' must be a string");
        assertThatThrownBy(() -> produce.parse("{\"texts\":\"one\"}", 1))
                .hasMessage("'texts' must be an array of strings");
        assertThatThrownBy(() -> produce.parse("[\"one\"]", 1)).hasMessage("a line needs 'inputs', 'text' or 'texts'");
    }

    @Test
    void itChecksLinesWithTheWorkersProtocolLimits() {
        assertThat(ProduceCommand.limits(Map.of()).maxTensorElements()).isEqualTo(262_144);
        assertThat(ProduceCommand.limits(Map.of("protocol.max.tensor.elements", "1000000",
                "protocol.max.record.bytes", "4194304")))
                .extracting(l -> l.maxTensorElements(), l -> l.maxRecordBytes()).containsExactly(1_000_000L, 4_194_304);
    }

    @ParameterizedTest
    @ValueSource(strings = {"-5", "0", "NaN"})
    void aRateThatIsNotPositiveIsAUsageError(String rate) {
        // Before, a negative rate meant no limit at all.
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine command = new CommandLine(new ProduceCommand());
        command.setErr(new java.io.PrintWriter(err, true, StandardCharsets.UTF_8));

        assertThat(command.execute("--rate", rate, "--kafka", "127.0.0.1:1")).isEqualTo(2);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("--rate must be a positive number");
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

    /**
     * A produce command reading from a pipe the test writes, its stdout ({@link #replies}, unless given) and summary
     * captured; run on another thread.
     */
    private static final class PipedRun {
        final PipedOutputStream lines = new PipedOutputStream();
        final ByteArrayOutputStream replies = new ByteArrayOutputStream();
        final ByteArrayOutputStream summary = new ByteArrayOutputStream();
        final ProduceCommand command = new ProduceCommand();
        final CompletableFuture<Integer> exit;

        PipedRun(String... args) throws Exception {
            this(null, args);
        }

        PipedRun(OutputStream stdout, String... args) throws Exception {
            command.stdin = new PipedInputStream(lines, 1 << 16);
            command.stdout = stdout == null ? replies : stdout;
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
            Path out = dir();
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-grace",
                    "--model", "echo7", "--output", out.toString(), "--wait", "--quiet");
            run.write("{\"id\":\"hold-forever\",\"text\":\"one\"}");
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-forever"));

            run.command.stop(Duration.ZERO);

            assertThat(run.summary()).contains("1 lines").contains("client_closed=1");
            // The output has its line too, shaped as an error reply with the client's outcome (before, nothing).
            assertThat(Files.readString(out).trim()).isEqualTo("{\"id\":\"hold-forever\","
                    + "\"model\":\"echo7\",\"line\":1,\"error\":{\"code\":\"client_closed\",\"message\":"
                    + "\"the inference client is shutting down\"}}");
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS)).doesNotContain("kinfer.replies.produce-grace");
            run.lines.close();
            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isEqualTo(1);
        }
    }

    @Test
    void onASignalALineReadButNotYetSentIsInTheSummaryAsUnfinished(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo9", 1);
        try (FakeWorker worker = new FakeWorker(kafka, "echo9")) {
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-unfinished",
                    "--model", "echo9", "--output", dir().toString(), "--wait", "--quiet", "--rate", "0.1");
            run.write("{\"id\":\"hold-one\",\"text\":\"one\"}", "{\"id\":\"waits\",\"text\":\"two\"}");
            // The second line is read, and waits 10 s for its turn (--rate).
            await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-one") && run.command.linesRead() == 2);

            run.command.stop(Duration.ZERO);

            // Before, "2 lines ...: client_closed=1": the second line was in no outcome.
            assertThat(run.summary()).contains("2 lines").contains("client_closed=1").contains("unfinished=1");
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
        command.stdout = new ByteArrayOutputStream();
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

    @Test
    void aStdoutClosedByItsReaderStopsTheRunCountsWhatWasNotWrittenAndFails(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo8", 1);
        OutputStream closedPipe = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("Broken pipe");
            }

            @Override
            public void write(byte[] bytes, int offset, int length) throws IOException {
                throw new IOException("Broken pipe");
            }
        };
        try (FakeWorker worker = new FakeWorker(kafka, "echo8")) {
            PipedRun run = new PipedRun(closedPipe, "--kafka", kafka.bootstrapServers(), "--set",
                    "client.id=produce-epipe", "--model", "echo8", "--wait", "--quiet");
            run.write("{\"text\":\"one\"}");
            // Before, System.out swallowed the error: every reply was lost, the whole input sent, and the exit 0.
            await().atMost(Duration.ofSeconds(30)).until(() -> run.summary().contains("output stopped: Broken pipe"));

            run.write("{\"text\":\"two\"}", "{\"text\":\"three\"}");

            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isEqualTo(1);
            assertThat(run.summary()).contains("2 lines").contains("not_sent=1").contains("not_written=1")
                    .doesNotContain("success");
            assertThat(worker.received).as("requests sent").hasSize(1);
        }
    }

    @Test
    void eachReplyReachesStdoutWhileTheInputIsStillOpen(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("kinfer.requests.echo9", 1);
        try (FakeWorker worker = new FakeWorker(kafka, "echo9")) {
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-stream",
                    "--model", "echo9", "--wait", "--quiet");
            run.write("{\"id\":\"streamed\",\"text\":\"one\"}");

            // Before, replies stayed in the writer's buffer until the input ended: `upstream | kinfer produce --wait
            // | downstream` passed nothing on while upstream ran.
            await().atMost(Duration.ofSeconds(30)).until(() -> run.replies.toString(StandardCharsets.UTF_8)
                    .contains("\"streamed\""));
            run.lines.close();
            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isZero();
            assertThat(run.replies.toString(StandardCharsets.UTF_8).lines()).hasSize(1);
        }
    }

    @Test
    void anOutputThatIsTheInputFileIsAUsageErrorAndTheInputIsLeftAlone(EmbeddedKafka kafka, @TempDir Path dir)
            throws Exception {
        Path input = dir.resolve("same.jsonl");
        Files.writeString(input, "{\"text\":\"one\"}\n");
        Path sameFile = dir.resolve(".").resolve("same.jsonl");

        int exit = new CommandLine(new ProduceCommand()).execute("--kafka", kafka.bootstrapServers(),
                "--set", "client.id=produce-same", "--input", input.toString(), "--output", sameFile.toString(),
                "--wait", "--quiet");

        // Before, the output was opened first, truncating the requests, and the run succeeded with nothing sent.
        assertThat(exit).isEqualTo(2);
        assertThat(Files.readString(input)).isEqualTo("{\"text\":\"one\"}\n");
    }

    @Test
    void aLineLargerThanAnyRecordIsSkippedAndLinesAreNumberedAsTheFileIs(EmbeddedKafka kafka, @TempDir Path dir)
            throws Exception {
        kafka.createTopic("kinfer.requests.echo10", 1);
        Path input = dir.resolve("huge.jsonl");
        Path output = dir.resolve("huge-out.jsonl");
        Files.write(input, List.of("{\"text\":\"one\"}", "", "{\"text\":\"" + "x".repeat(5000) + "\"}",
                "not json", "{\"text\":\"five\"}"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ProduceCommand command = new ProduceCommand();
        command.err = new PrintStream(err, true, StandardCharsets.UTF_8);
        try (FakeWorker worker = new FakeWorker(kafka, "echo10")) {
            int exit = new CommandLine(command).execute("--kafka", kafka.bootstrapServers(), "--set",
                    "client.id=produce-huge", "--set", "protocol.max.record.bytes=4096", "--model", "echo10",
                    "--input", input.toString(), "--output", output.toString(), "--wait", "--quiet");

            assertThat(exit).isEqualTo(1);
        }
        // Skipped unread (before, a line of any size was collected whole: a file without newlines ran out of
        // memory), and counted by the file's own line numbers, the blank line too (before, "line 2" and "line 3").
        assertThat(err.toString(StandardCharsets.UTF_8))
                .contains("line 3 skipped: too large (5011 bytes; at most 4096)").contains("line 4 skipped: ")
                .contains("4 lines").contains("invalid_line=2").contains("success=2");
        assertThat(Files.readString(output)).contains("\"line-1\"").contains("\"line-5\"");
    }

    @Test
    void theSummarySaysWhyCallsFailed(EmbeddedKafka kafka, @TempDir Path dir) throws Exception {
        kafka.createTopic("kinfer.requests.echo11", 1);
        Path input = dir.resolve("failing.jsonl");
        Files.write(input, List.of("{\"text\":\"fine\"}", "{\"text\":\"" + "x".repeat(3000) + "\"}",
                "{\"model\":\"no-such-model\",\"text\":\"x\"}"));
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        ProduceCommand command = new ProduceCommand();
        command.err = new PrintStream(err, true, StandardCharsets.UTF_8);
        try (FakeWorker worker = new FakeWorker(kafka, "echo11")) {
            int exit = new CommandLine(command).execute("--kafka", kafka.bootstrapServers(), "--set",
                    "client.id=produce-why", "--set", "kafka.producer.max.request.size=2000", "--set",
                    "kafka.producer.max.block.ms=1000", "--model", "echo11", "--input", input.toString(),
                    "--output", dir.resolve("failing-out.jsonl").toString(), "--wait", "--quiet");

            assertThat(exit).isEqualTo(1);
        }
        // Before, "failed=1" for the refused size, and no reason for either.
        assertThat(err.toString(StandardCharsets.UTF_8))
                .contains("success=1").contains("too_large=1").contains("kafka_unavailable=1")
                .contains("line 2: too_large: the request is larger than Kafka takes")
                .contains("line 3: kafka_unavailable: ").contains("most likely there is no topic "
                        + "kinfer.requests.no-such-model");
    }

    @ParameterizedTest
    @ValueSource(strings = {"request.timeout.ms=5s", "max.in.flight.requests=many", "protocol.max.record.bytes=1MB"})
    void aSettingThatIsNotANumberIsRefusedNamingItsKey(String setting, @TempDir Path dir) throws Exception {
        Path input = dir.resolve("one.jsonl");
        Files.writeString(input, "{\"text\":\"one\"}\n");
        AtomicReference<Exception> failure = new AtomicReference<>();
        CommandLine cli = new CommandLine(new ProduceCommand()).setExecutionExceptionHandler((error, line, parsed) -> {
            failure.set(error);
            return 1;
        });

        assertThat(cli.execute("--set", setting, "--input", input.toString(), "--quiet")).isEqualTo(1);

        // Before, a NumberFormatException: `kinfer produce: For input string: "5s"`, naming no setting. The CLI
        // adds where a ConfigException's key came from (here: --set).
        assertThat(failure.get()).isInstanceOf(ConfigException.class)
                .hasMessageContaining(setting.substring(0, setting.indexOf('=')));
    }

    @Test
    void aSignalWhileTheClientIsMadeClosesItAndItsReplyTopicGoes(EmbeddedKafka kafka) throws Exception {
        try (Admin admin = kafka.admin()) {
            // A reply partition its own topic lacks: create() made the topic and waits 5 s for the partition before
            // it gives up, a window in which a signal comes while the client is being made.
            PipedRun run = new PipedRun("--kafka", kafka.bootstrapServers(), "--set", "client.id=produce-making",
                    "--set", "reply.partition=5", "--wait", "--quiet");
            await().atMost(Duration.ofSeconds(30)).until(() -> admin.listTopics().names().get(10, TimeUnit.SECONDS)
                    .contains("kinfer.replies.produce-making"));

            run.command.stop(Duration.ZERO);

            // Before, the hook found no run and returned at once, the client still being made: the JVM exited with
            // the reply topic left behind. Now it returns once what was made is closed and the topic deleted.
            assertThat(kafkaConsumerOpen("produce-making-replies")).isFalse();
            await().atMost(Duration.ofSeconds(30)).until(() -> !admin.listTopics().names().get(10, TimeUnit.SECONDS)
                    .contains("kinfer.replies.produce-making"));
            assertThat(run.summary()).contains("stopped while connecting to Kafka: nothing was sent");
            assertThat(run.exit.get(60, TimeUnit.SECONDS)).isEqualTo(1);
        }
    }

    @Test
    void aFifoInputIsOpenedBeforeTheClientIsMade(EmbeddedKafka kafka, @TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("requests.fifo");
        assumeTrue(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor() == 0, "mkfifo");
        ProduceCommand command = new ProduceCommand();
        command.stdout = new ByteArrayOutputStream();
        command.err = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        Thread running = new Thread(() -> exit.complete(new CommandLine(command).execute("--kafka",
                kafka.bootstrapServers(), "--set", "client.id=produce-fifo", "--input", fifo.toString(), "--wait",
                "--quiet")));
        running.setDaemon(true);
        running.start();
        try (Admin admin = kafka.admin()) {
            // Opening a FIFO waits for its writer.
            await().atMost(Duration.ofSeconds(30)).until(() -> opening(running));

            // Before, the client was made first: a Ctrl-C while the FIFO waited left the reply topic behind.
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS))
                    .doesNotContain("kinfer.replies.produce-fifo");
            command.stop(Duration.ZERO); // what the shutdown hook runs
            Files.newOutputStream(fifo).close(); // its writer comes and goes: the input opens, and ends

            assertThat(exit.get(60, TimeUnit.SECONDS)).as("stopped before anything was sent").isEqualTo(1);
            assertThat(admin.listTopics().names().get(10, TimeUnit.SECONDS))
                    .doesNotContain("kinfer.replies.produce-fifo");
        }
    }

    /** Whether the Kafka consumer with this client.id is open (Kafka registers its app-info MBean until close). */
    private static boolean kafkaConsumerOpen(String clientId) throws Exception {
        return ManagementFactory.getPlatformMBeanServer()
                .isRegistered(new ObjectName("kafka.consumer:type=app-info,id=" + clientId));
    }

    /** Whether {@code thread} is opening a file for reading. */
    private static boolean opening(Thread thread) {
        List<StackTraceElement> frames = List.of(thread.getStackTrace());
        return frames.stream().anyMatch(f -> f.getClassName().equals("sun.nio.fs.UnixNativeDispatcher")
                && f.getMethodName().startsWith("open"))
                && frames.stream().anyMatch(f -> f.getClassName().equals(Files.class.getName())
                && f.getMethodName().equals("newInputStream"));
    }

    private static Path dir() throws java.io.IOException {
        Path file = Files.createTempFile("produce-grace", ".jsonl");
        file.toFile().deleteOnExit();
        return file;
    }
}
