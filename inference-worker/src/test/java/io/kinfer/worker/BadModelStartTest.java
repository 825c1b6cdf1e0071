package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.worker.model.ModelException;
import io.kinfer.worker.testing.OnnxModels;
import io.kinfer.worker.testing.TestSettings;
import org.junit.jupiter.api.Test;

/**
 * A model that cannot load stops the worker, as Triton stops by default: the one line the operator sees must name
 * the model and version. Before, it said only "ONNX Runtime cannot load the model" (or, for a bad config.json
 * override, the bare setting), leaving the operator to guess which of a repository's models it was.
 */
@WithKafka
class BadModelStartTest {

    @Test
    void aModelThatCannotLoadIsNamedInTheError(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "good", "1", OnnxModels.gemm(4, 3), null, null);
        OnnxModels.writeVersion(repo, "garbage", "2", "not an ONNX model".getBytes(), null, null);
        OnnxModels.writeVersion(repo, "badconfig", "1", OnnxModels.gemm(4, 3),
                "{\"batching\": {\"max_batch_size\": -3}}", null);

        assertThatThrownBy(() -> InferenceWorker.start(worker(kafka, repo, "good,garbage")))
                .isInstanceOf(ModelException.class)
                .hasMessageStartingWith("model garbage version 2: ONNX Runtime cannot load the model");
        assertThatThrownBy(() -> InferenceWorker.start(worker(kafka, repo, "badconfig")))
                .isInstanceOf(ModelException.class).hasNoCause()
                .hasMessageStartingWith("model badconfig version 1: config.json: Invalid value -3 for configuration "
                        + "batching.max_batch_size");
    }

    @Test
    void aTypoInAModelsKindIsRefusedNotServedAsATensorModel(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "typo", "1", OnnxModels.gemm(4, 3), "{\"kind\": \"tensorr\"}", null);

        assertThatThrownBy(() -> InferenceWorker.start(worker(kafka, repo, "typo")))
                .hasMessageContaining("invalid config.json for model typo")
                .hasMessageContaining("kind must be \"text\" or \"tensor\", not \"tensorr\"");
    }

    private static WorkerConfig worker(EmbeddedKafka kafka, Path repo, String models) {
        return new WorkerConfig(TestSettings.forKafka(kafka, WorkerConfig.MODELS, models,
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1));
    }
}
