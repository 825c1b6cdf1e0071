package io.kinfer.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Properties;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The Kafka Streams settings the jobs service runs with: jobs.streams.* has the last word. */
class JobsConfigTest {

    @Test
    void streamsSettingsPassThroughAndOverrideOurs() {
        String url = "http://127.0.0.1:8080";
        Map<String, Object> defaults = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url)).streamsProperties();
        Map<String, Object> overridden = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url,
                "jobs.streams.processing.guarantee", "exactly_once_v2",
                "jobs.streams." + StreamsConfig.producerPrefix("linger.ms"), "20")).streamsProperties();

        // At least once by default (exactly-once wipes the stores on a crash and needs transactions on the brokers).
        assertThat(defaults).doesNotContainKey(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)
                .containsEntry(StreamsConfig.producerPrefix("linger.ms"), 5);
        assertThat(overridden).containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, "exactly_once_v2")
                .containsEntry(StreamsConfig.producerPrefix("linger.ms"), "20");
    }

    @Test
    void kafkaStreamsStartsWithoutWarningsAboutItsSettings() {
        Properties props = new Properties();
        props.putAll(new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080",
                JobsConfig.STATE_DIR, System.getProperty("java.io.tmpdir") + "/kinfer-jobs-config-test"))
                .streamsProperties());
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("kinfer.jobs.test").foreach((key, value) -> { });
        Logger streamsConfig = (Logger) LoggerFactory.getLogger(StreamsConfig.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        streamsConfig.addAppender(logged);
        try {
            // Constructing makes the clients (and the assignor's own StreamsConfig) without connecting anywhere.
            new KafkaStreams(builder.build(), props).close();
        } finally {
            streamsConfig.detachAppender(logged);
        }
        assertThat(logged.list).filteredOn(event -> event.getLevel().isGreaterOrEqual(Level.WARN))
                .extracting(ILoggingEvent::getFormattedMessage).isEmpty();
    }
}
