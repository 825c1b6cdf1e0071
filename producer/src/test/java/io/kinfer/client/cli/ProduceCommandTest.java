package io.kinfer.client.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import io.kinfer.client.FakeWorker;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
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
}
