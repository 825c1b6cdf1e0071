package io.kinfer.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

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
}
