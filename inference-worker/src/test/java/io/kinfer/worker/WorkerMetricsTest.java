package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

class WorkerMetricsTest {

    @Test
    void aGaugeRegisteredAgainReadsTheNewSourceNotTheOld() {
        // A version rolled back to while its old runtime still retires registers its gauges again under the same
        // id: Micrometer would hand back the old gauge, reading (and holding) the retiring runtime.
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        WorkerMetrics metrics = new WorkerMetrics(registry);
        Tags tags = Tags.of("model", "m", "version", "1");

        metrics.gauge("kinfer.queue.depth", "queued", tags, () -> 7);
        metrics.gauge("kinfer.queue.depth", "queued", tags, () -> 3);

        assertThat(registry.find("kinfer.queue.depth").tags(tags).gauges()).hasSize(1);
        assertThat(registry.get("kinfer.queue.depth").tags(tags).gauge().value()).isEqualTo(3.0);
    }

    @Test
    void anOutcomeAcknowledgedAfterItsVersionRetiredLeavesNoSeriesBehind() {
        // Outcomes count when Kafka acknowledges the reply, which may come after the version's meters were removed.
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        WorkerMetrics metrics = new WorkerMetrics(registry);
        WorkerMetrics.VersionMeters retiring = metrics.version("m", "1");
        retiring.outcome(WorkerMetrics.SUCCESS);

        metrics.removeVersion("m", "1");
        retiring.outcome(WorkerMetrics.SUCCESS);
        retiring.outcome("expired");

        assertThat(registry.find("kinfer.requests").tag("version", "1").counters()).isEmpty();
    }
}
