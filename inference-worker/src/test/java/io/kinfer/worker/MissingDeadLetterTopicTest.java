package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

@WithKafka
class MissingDeadLetterTopicTest {

    @Test
    void aWorkerThatMayNotCreateTopicsSaysAtStartThatItsDeadLetterTopicIsMissing(EmbeddedKafka kafka) throws Exception {
        // Before, the first record to dead-letter found out, with a 10 s metadata wait per try.
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        kafka.createTopic(Topics.requestTopic("gemm"), 1);
        Logger logger = (Logger) LoggerFactory.getLogger(InferenceWorker.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(TestSettings.forKafka(kafka,
                WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1,
                WorkerConfig.TOPICS_CREATE, false, WorkerConfig.DLQ_TOPIC, "no.such.dlq")))) {
            await().atMost(Duration.ofSeconds(30)).until(() -> logged.list.stream().anyMatch(event ->
                    event.getFormattedMessage().startsWith("dead-letter topic no.such.dlq (dlq.topic) does not exist")));
            assertThat(worker.live()).isTrue();
        } finally {
            logger.detachAppender(logged);
        }
    }
}
