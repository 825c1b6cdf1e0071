package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;

import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** Values Kafka's own validators let through, which made workers that started and then did nothing useful. */
class WorkerConfigTest {

    @Test
    void anEmptyModelListOrAnEmptyModelNameIsRefused() {
        // Before, "-m ''" started a worker that served nothing and was never ready, without a word.
        assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.MODELS, "")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(WorkerConfig.MODELS)
                .hasMessageContaining("at least one model");
        assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.MODELS, "sentiment,,minilm")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("a model name is empty");
        assertThat(new WorkerConfig(Map.of(WorkerConfig.MODELS, "sentiment, minilm")).models())
                .isEqualTo(List.of("sentiment", "minilm"));
        assertThat(new WorkerConfig(Map.of(WorkerConfig.MODELS, "*")).models()).isEqualTo(List.of("*"));
    }

    @Test
    void notANumberIsRefusedForTheQueueDelay() {
        // Range.between passes NaN: every comparison with it is false.
        assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS, "NaN")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS)
                .hasMessageContaining("not a number");
        assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS, "Infinity")))
                .isInstanceOf(ConfigException.class);
        assertThat(new WorkerConfig(Map.of(WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS, "0.5"))
                .getDouble(WorkerConfig.BATCH_MAX_QUEUE_DELAY_MS)).isEqualTo(0.5);
    }
}
