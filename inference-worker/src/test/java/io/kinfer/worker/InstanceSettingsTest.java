package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.model.ModelConfig;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.testing.OnnxModels;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;

/** How model.instances, a model config's override and onnx.intra.op.threads combine. */
class InstanceSettingsTest {

    @Test
    void aModelConfigOverridesTheWorkersInstanceCount() throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3),
                "{\"batching\": {\"max_batch_size\": 8, \"instances\": 3}}", null);
        OnnxModels.writeVersion(repo, "plain", "1", OnnxModels.gemm(4, 3), null, null);
        ModelRepository repository = new ModelRepository(repo);
        WorkerConfig config = new WorkerConfig(Map.of(WorkerConfig.MODEL_INSTANCES, 2));

        BatchSettings overridden = config.batchSettings(repository.config("gemm").batching());
        BatchSettings inherited = config.batchSettings(repository.config("plain").batching());

        assertThat(overridden.instances()).isEqualTo(3);
        assertThat(overridden.maxBatchSize()).isEqualTo(8);
        assertThat(inherited.instances()).isEqualTo(2);
        assertThat(new WorkerConfig(Map.of()).batchSettings(ModelConfig.BatchingOverrides.NONE).instances())
                .isEqualTo(1);
    }

    /**
     * A model's config.json overrides are held to the ranges of the worker settings they replace. Before, they
     * were only checked to be positive: priority_levels 2e9 allocated that many queues at load, and instances
     * started any number of threads.
     */
    @Test
    void aModelConfigsBatchingOverridesAreHeldToTheWorkerSettingsRanges() throws Exception {
        Path repo = Files.createTempDirectory("repo");
        Map<String, String> overrides = Map.of(
                "levels", "\"priority_levels\": 2000000000",
                "threads", "\"instances\": 100000",
                "batch", "\"max_batch_size\": 5000",
                "queue", "\"max_queue_size\": 2000000",
                "delay", "\"max_queue_delay_ms\": -1.5");
        overrides.forEach((model, field) -> OnnxModels.writeVersion(repo, model, "1", OnnxModels.gemm(4, 3),
                "{\"batching\": {" + field + "}}", null));
        ModelRepository repository = new ModelRepository(repo);
        WorkerConfig config = new WorkerConfig(Map.of());

        overrides.forEach((model, field) -> {
            String name = field.substring(1, field.indexOf('"', 1));
            assertThatThrownBy(() -> config.batchSettings(repository.config(model).batching()))
                    .as(model).isInstanceOf(ConfigException.class).hasMessageContaining("batching." + name);
        });
        assertThat(config.batchSettings(new ModelConfig.BatchingOverrides(4096, 60_000.0, 1_000_000, 16, true, 64))
                .priorityLevels()).isEqualTo(16);
        // 0 is Triton's "no batching": each request runs alone (TensorModel), one per call.
        assertThat(config.batchSettings(new ModelConfig.BatchingOverrides(0, null, null, null, null, null))
                .maxBatchSize()).isEqualTo(1);
    }

    @Test
    void automaticThreadsAreSharedAmongTheInstancesAndExplicitOnesAreKept() {
        int processors = Runtime.getRuntime().availableProcessors();
        WorkerConfig automatic = new WorkerConfig(Map.of());
        WorkerConfig explicit = new WorkerConfig(Map.of(WorkerConfig.ONNX_INTRA_OP_THREADS, 3));

        assertThat(automatic.onnxSettings(1).intraOpThreads()).isEqualTo(processors);
        assertThat(automatic.onnxSettings(2).intraOpThreads()).isEqualTo(Math.max(1, processors / 2));
        assertThat(automatic.onnxSettings(processors * 4).intraOpThreads()).isEqualTo(1);
        assertThat(explicit.onnxSettings(2).intraOpThreads()).isEqualTo(3);
    }

    @Test
    void theSingleThreadThresholdPassesThroughWithItsDefault() {
        assertThat(new WorkerConfig(Map.of()).onnxSettings(1).singleThreadMaxTokens())
                .isEqualTo(OnnxSettings.DEFAULT_SINGLE_THREAD_MAX_TOKENS).isEqualTo(64);
        assertThat(new WorkerConfig(Map.of(WorkerConfig.ONNX_SINGLE_THREAD_MAX_TOKENS, 0)).onnxSettings(2)
                .singleThreadMaxTokens()).isZero();
        assertThat(new WorkerConfig(Map.of(WorkerConfig.ONNX_SINGLE_THREAD_MAX_TOKENS, 200)).onnxSettings(1)
                .singleThreadMaxTokens()).isEqualTo(200);
    }

    @Test
    void anInstanceCountBelowOneIsRefusedByName() {
        assertThatThrownBy(() -> new BatchSettings(8, 0, 100, 1, true, false, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("instances=0");
    }
}
