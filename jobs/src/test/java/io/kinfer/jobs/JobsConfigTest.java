package io.kinfer.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;

import org.apache.kafka.streams.StreamsConfig;
import org.junit.jupiter.api.Test;

/** The Kafka Streams settings the jobs service runs with, and that jobs.streams.* still has the last word. */
class JobsConfigTest {

    @Test
    void jobsRunExactlyOnceUnlessToldOtherwise() {
        String url = "http://127.0.0.1:8080";
        Map<String, Object> defaults = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url)).streamsProperties();
        Map<String, Object> overridden = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url,
                "jobs.streams.processing.guarantee", "at_least_once")).streamsProperties();

        assertThat(defaults).containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        assertThat(overridden).containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, "at_least_once");
    }
}
