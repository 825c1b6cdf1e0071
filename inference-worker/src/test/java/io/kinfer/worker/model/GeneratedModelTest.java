package io.kinfer.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.kinfer.protocol.DataType;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.worker.testing.OnnxModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Tiny models the tests write themselves, served from an on-disk repository. */
class GeneratedModelTest {

    @TempDir
    Path repo;

    @Test
    void tensorModelBatchesAlongTheFirstDimensionAndSplitsOutputs() throws Exception {
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        ModelRepository repository = new ModelRepository(repo);
        try (LoadedModel model = repository.load("gemm", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.metadata().inputs()).containsExactly(new TensorMetadata("x", DataType.FP32, new long[] {-1, 4}));
            float[] a = {1, 2, 3, 4};
            float[] b = {0.5f, -1, 0, 2, 1, 1, 1, 1}; // two rows
            PreparedRequest first = model.prepare(tensorRequest("x", new long[] {1, 4}, a));
            PreparedRequest second = model.prepare(tensorRequest("x", new long[] {2, 4}, b));

            List<List<Output>> outputs = model.infer(List.of(first, second));

            Tensor y1 = (Tensor) outputs.get(0).get(0);
            Tensor y2 = (Tensor) outputs.get(1).get(0);
            assertThat(y1.shape()).containsExactly(1, 3);
            assertThat(y2.shape()).containsExactly(2, 3);
            assertThat(y1.fp32()).containsExactly(OnnxModels.gemmExpected(a, 3), within(1e-5f));
            float[] row2 = {1, 1, 1, 1};
            assertThat(java.util.Arrays.copyOfRange(y2.fp32(), 3, 6))
                    .containsExactly(OnnxModels.gemmExpected(row2, 3), within(1e-5f));
        }
    }

    /**
     * An output without a batch dimension (a sum over the rows) mixed the requests of a shared call: two requests
     * of two rows each got the column sums of both, cut in two ([2] each instead of [4]), and one alone failed
     * (500). Such a model now runs each request alone and answers its outputs whole; it says max_batch_size 0.
     */
    @Test
    void aModelWithAnOutputWithoutABatchDimensionRunsEachRequestAlone() throws Exception {
        OnnxModels.writeVersion(repo, "colsum", "1", OnnxModels.columnSum(), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("colsum", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.batches()).isFalse();
            List<List<Output>> outputs = model.infer(List.of(
                    model.prepare(tensorRequest("x", new long[] {2, 4}, new float[] {1, 2, 3, 4, 1, 2, 3, 4})),
                    model.prepare(tensorRequest("x", new long[] {2, 4}, new float[] {0, 0, 0, 0, 5, 5, 5, 5}))));

            assertThat(((Tensor) outputs.get(0).get(0)).shape()).containsExactly(4);
            assertThat(((Tensor) outputs.get(0).get(0)).fp32()).containsExactly(2, 4, 6, 8);
            assertThat(((Tensor) outputs.get(1).get(0)).fp32()).containsExactly(5, 5, 5, 5);
            List<List<Output>> alone = model.infer(List.of(
                    model.prepare(tensorRequest("x", new long[] {1, 4}, new float[] {1, 2, 3, 4}))));
            assertThat(((Tensor) alone.get(0).get(0)).fp32()).containsExactly(1, 2, 3, 4);
        }
    }

    /**
     * A softmax over the first dimension looks batch-first by its shapes; shared calls gave each request a softmax
     * over all of them. Its config's max_batch_size 0 (Triton's "no batching") runs each request alone.
     */
    @Test
    void maxBatchSizeZeroRunsEachRequestAloneAsTritonDoes() throws Exception {
        OnnxModels.writeVersion(repo, "softmax", "1", OnnxModels.softmaxFirstAxis(),
                "{\"batching\": {\"max_batch_size\": 0}}", null);
        try (LoadedModel model = new ModelRepository(repo).load("softmax", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.batches()).isFalse();
            PreparedRequest one = model.prepare(tensorRequest("x", new long[] {2}, new float[] {0, 1}));
            List<List<Output>> outputs = model.infer(List.of(one, one, one));

            for (List<Output> answer : outputs) {
                assertThat(((Tensor) answer.get(0)).fp32()).containsExactly(new float[] {0.26894142f, 0.7310586f},
                        within(1e-6f));
            }
        }
        OnnxModels.writeVersion(repo, "softmax-batched", "1", OnnxModels.softmaxFirstAxis(), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("softmax-batched", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.batches()).as("nothing in its shapes says otherwise").isTrue();
        }
    }

    /**
     * A batching model's outputs are checked to be batch-first on every call, one request or many: an output that
     * is not (declared of any size, here 4 rows for 2) fails instead of being cut across requests, or answered
     * whole to one and cut for others.
     */
    @Test
    void aBatchingModelsOutputThatIsNotBatchFirstFailsEvenForOneRequest() throws Exception {
        OnnxModels.writeVersion(repo, "undeclared", "1", OnnxModels.stackedTwice(), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("undeclared", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.batches()).isTrue();
            PreparedRequest twoRows = model.prepare(tensorRequest("x", new long[] {2, 4}, new float[8]));
            assertThatThrownBy(() -> model.infer(List.of(twoRows))).isInstanceOf(ModelException.class)
                    .hasMessageContaining("its first dimension must be the batch size 2");
        }
    }

    /** An output declared [1, 4] by an exporter that named only the inputs' batch axis still batches. */
    @Test
    void anOutputDeclaredWithABatchOfOneStillBatches() throws Exception {
        OnnxModels.writeVersion(repo, "exported", "1", OnnxModels.identityDeclaredBatchOfOne(), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("exported", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.batches()).isTrue();
            List<List<Output>> outputs = model.infer(List.of(
                    model.prepare(tensorRequest("x", new long[] {1, 4}, new float[] {1, 2, 3, 4})),
                    model.prepare(tensorRequest("x", new long[] {2, 4}, new float[] {5, 6, 7, 8, 9, 10, 11, 12}))));
            assertThat(((Tensor) outputs.get(0).get(0)).fp32()).containsExactly(1, 2, 3, 4);
            assertThat(((Tensor) outputs.get(1).get(0)).shape()).containsExactly(2, 4);
            assertThat(((Tensor) outputs.get(1).get(0)).fp32()).containsExactly(5, 6, 7, 8, 9, 10, 11, 12);
        }
    }

    @Test
    void requestsOfDifferentInnerShapesShareABatchButNotATensor() throws Exception {
        OnnxModels.writeVersion(repo, "rowsum", "1", OnnxModels.rowSum(), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("rowsum", "1", OnnxSettings.DEFAULTS)) {
            assertThat(model.metadata().inputs().get(0).shape()).containsExactly(-1, -1);
            float[] eight = {1, 2, 3, 4, 5, 6, 7, 8};
            float[] four = {10, 20, 30, 40};
            float[] twoByFour = {1, 1, 1, 1, 2, 2, 2, 2};
            float[] three = {100, 200, 300};
            // Concatenated as if all were [_, 8], every request after the first would read its neighbour's numbers.
            List<List<Output>> outputs = model.infer(List.of(
                    model.prepare(tensorRequest("x", new long[] {1, 8}, eight)),
                    model.prepare(tensorRequest("x", new long[] {1, 4}, four)),
                    model.prepare(tensorRequest("x", new long[] {2, 4}, twoByFour)),
                    model.prepare(tensorRequest("x", new long[] {1, 3}, three))));

            assertThat(outputs).hasSize(4);
            assertThat(((Tensor) outputs.get(0).get(0)).fp32()).containsExactly(36f);
            assertThat(((Tensor) outputs.get(1).get(0)).fp32()).containsExactly(100f);
            assertThat(((Tensor) outputs.get(2).get(0)).shape()).containsExactly(2, 1);
            assertThat(((Tensor) outputs.get(2).get(0)).fp32()).containsExactly(4f, 8f);
            assertThat(((Tensor) outputs.get(3).get(0)).fp32()).containsExactly(600f);
        }
    }

    @Test
    void aModelWithAFixedBatchDimensionRunsEachRequestAlone() throws Exception {
        OnnxModels.writeVersion(repo, "gemm1", "1", OnnxModels.gemmFixedBatch(4, 3, 1), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("gemm1", "1", OnnxSettings.DEFAULTS)) {
            float[] a = {1, 2, 3, 4};
            float[] b = {4, 3, 2, 1};
            List<List<Output>> outputs = model.infer(List.of(
                    model.prepare(tensorRequest("x", new long[] {1, 4}, a)),
                    model.prepare(tensorRequest("x", new long[] {1, 4}, b))));

            assertThat(((Tensor) outputs.get(0).get(0)).fp32()).containsExactly(OnnxModels.gemmExpected(a, 3), within(1e-5f));
            assertThat(((Tensor) outputs.get(1).get(0)).fp32()).containsExactly(OnnxModels.gemmExpected(b, 3), within(1e-5f));
            assertInvalid(model, tensorRequest("x", new long[] {2, 4}, new float[8]), "shape");
        }
    }

    /**
     * A request of width 5 passes the shape check of a {@code [-1, -1]} input, then fails in the MatMul that needs
     * width 4. It runs in a call of its own (its shape group), and the other group's answers are kept; before, the
     * whole batch's were thrown away.
     */
    @Test
    void aShapeGroupThatFailsKeepsTheAnswersOfTheOtherGroups() throws Exception {
        OnnxModels.writeVersion(repo, "mm", "1", OnnxModels.matMulAnyWidth(4, 3), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("mm", "1", OnnxSettings.DEFAULTS)) {
            List<PreparedRequest> batch = List.of(
                    model.prepare(tensorRequest("x", new long[] {1, 4}, new float[] {1, 2, 3, 4})),
                    model.prepare(tensorRequest("x", new long[] {1, 5}, new float[5])),
                    model.prepare(tensorRequest("x", new long[] {2, 4}, new float[] {1, 1, 1, 1, 2, 2, 2, 2})));

            assertThatThrownBy(() -> model.infer(batch)).isInstanceOfSatisfying(PartialBatchException.class, e -> {
                assertThat(e.outputs()).hasSize(3);
                assertThat(e.outputs().get(1)).isNull();
                assertThat(e.failedAlone(1)).isTrue();
                assertThat(((Tensor) e.outputs().get(0).get(0)).fp32()).containsExactly(3f, 6f, 9f);
                assertThat(((Tensor) e.outputs().get(2).get(0)).shape()).containsExactly(2, 3);
            });
        }
    }

    /** 4096 texts of 256 tokens of 1024 floats would overflow a buffer's int size: refused at load, with the limit. */
    @Test
    void aTextModelRefusesAMaxBatchSizeItsBuffersCannotHold() throws Exception {
        String config = """
                {"kind":"text","tokenizer":{"file":"tokenizer.json","max_length":256},"postprocessing":{"kind":"embedding"}}
                """;
        OnnxModels.writeVersion(repo, "wide", "1", OnnxModels.bagOfEmbeddings(8, 1024), config,
                OnnxModels.wordLevelTokenizer(List.of("good", "bad")));
        try (LoadedModel model = new ModelRepository(repo).load("wide", "1", OnnxSettings.DEFAULTS)) {
            model.checkMaxBatchSize(2047); // 2047 × 256 × 1024 floats fit one buffer

            assertThatThrownBy(() -> model.checkMaxBatchSize(4096)).isInstanceOf(ModelException.class)
                    .hasMessageContaining("max_batch_size 4096").hasMessageContaining("at most 2047");
        }
    }

    @Test
    void tensorModelRejectsWrongNamesTypesAndShapes() throws Exception {
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
        try (LoadedModel model = new ModelRepository(repo).load("gemm", "1", OnnxSettings.DEFAULTS)) {
            assertInvalid(model, tensorRequest("x", new long[] {1, 5}, new float[5]), "shape");
            assertInvalid(model, tensorRequest("z", new long[] {1, 4}, new float[4]), "missing input");
            assertInvalid(model, InferenceRequest.ofTensors("r", "gemm",
                    List.of(Tensor.int64("x", new long[] {1, 4}, new long[4]))), "FP32");
            assertInvalid(model, InferenceRequest.ofTexts("r", "gemm", List.of("text")), "takes tensors");
            assertInvalid(model, InferenceRequest.ofTensors("r", "gemm", List.of(
                    Tensor.fp32("x", new long[] {1, 4}, new float[4]), Tensor.fp32("extra", new long[] {1, 1}, new float[1]))),
                    "unknown input");
        }
    }

    @Test
    void bagOfEmbeddingsTextModelPoolsOverTheMask() throws Exception {
        try (LoadedModel model = bagOfEmbeddings()) {
            PreparedRequest shortText = model.prepare(InferenceRequest.ofTexts("a", "bag", List.of("good")));
            PreparedRequest longText = model.prepare(InferenceRequest.ofTexts("b", "bag", List.of("good good good bad")));
            assertThat(shortText.length()).isEqualTo(3); // [CLS] good [SEP]
            assertThat(longText.length()).isEqualTo(6);

            List<List<Output>> outputs = model.infer(List.of(shortText, longText));
            float[] alone = ((Embedding) model.infer(List.of(shortText)).get(0).get(0)).vector();
            float[] padded = ((Embedding) outputs.get(0).get(0)).vector();

            // Padding the short row to the long row's length must not change its pooled vector.
            assertThat(padded).containsExactly(alone, within(1e-6f));
            assertThat(model.metadata().outputs().get(0).shape()).containsExactly(-1, 4);
        }
    }

    /**
     * Each batcher thread reuses one set of direct tensor buffers: a call after a larger one must not see its
     * leftovers, and instances calling the model at once must not share them.
     */
    @Test
    void textModelCallsShareNoBuffersAcrossSizesOrThreads() throws Exception {
        try (LoadedModel model = bagOfEmbeddings()) {
            PreparedRequest shortText = model.prepare(InferenceRequest.ofTexts("a", "bag", List.of("good")));
            PreparedRequest longText = model.prepare(InferenceRequest.ofTexts("b", "bag",
                    List.of("bad awful bad awful bad awful bad awful")));
            float[] shortAlone = firstVector(model, List.of(shortText));
            float[] longAlone = firstVector(model, List.of(longText));

            model.infer(List.of(longText, longText, longText, longText, longText, longText));
            assertThat(firstVector(model, List.of(shortText))).containsExactly(shortAlone, within(1e-6f));

            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<Boolean>> runs = new ArrayList<>();
                for (int thread = 0; thread < 2; thread++) {
                    boolean startShort = thread == 0;
                    runs.add(pool.submit(() -> {
                        for (int i = 0; i < 300; i++) {
                            boolean isShort = startShort == (i % 2 == 0);
                            float[] got = firstVector(model, List.of(isShort ? shortText : longText));
                            if (!Arrays.equals(got, isShort ? shortAlone : longAlone)) {
                                return false;
                            }
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> run : runs) {
                    assertThat(run.get(60, TimeUnit.SECONDS)).isTrue();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /** A BERT-shaped text model (token states = word embeddings, hidden 4) over a four-word vocabulary. */
    private LoadedModel bagOfEmbeddings() throws Exception {
        String config = """
                {"kind":"text","tokenizer":{"file":"tokenizer.json","max_length":16},"postprocessing":{"kind":"embedding"}}
                """;
        OnnxModels.writeVersion(repo, "bag", "1", OnnxModels.bagOfEmbeddings(8, 4), config,
                OnnxModels.wordLevelTokenizer(List.of("good", "great", "bad", "awful")));
        return new ModelRepository(repo).load("bag", "1", OnnxSettings.DEFAULTS);
    }

    private static float[] firstVector(LoadedModel model, List<PreparedRequest> batch) throws ModelException {
        return ((Embedding) model.infer(batch).get(0).get(0)).vector();
    }

    @Test
    void unknownVersionOrModelFailsToLoad() {
        OnnxModels.writeVersion(repo, "gemm", "3", OnnxModels.gemm(2, 2), null, null);
        OnnxModels.writeVersion(repo, "gemm", "10", OnnxModels.gemm(2, 2), null, null);
        ModelRepository repository = new ModelRepository(repo);

        assertThat(repository.versions("gemm")).containsExactly("3", "10");
        assertThat(repository.latestVersion("gemm")).contains("10");
        assertThat(repository.modelNames()).contains("gemm", "minilm", "sentiment");
        assertThatThrownBy(() -> repository.load("gemm", "4", OnnxSettings.DEFAULTS)).isInstanceOf(ModelException.class);
        assertThat(repository.versions("nope")).isEmpty();
        // "010" is version 10 too: ordered by name after its number, whatever order the directory lists them in.
        OnnxModels.writeVersion(repo, "gemm", "010", OnnxModels.gemm(2, 2), null, null);
        assertThat(repository.versions("gemm")).containsExactly("3", "010", "10");
        assertThat(repository.latestVersion("gemm")).contains("10");
    }

    @Test
    void invalidConfigIsReportedWithTheModelName() throws Exception {
        OnnxModels.writeVersion(repo, "broken", "1", OnnxModels.gemm(2, 2), "{\"max_batch\": 4}", null);
        assertThatThrownBy(() -> new ModelRepository(repo).config("broken"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("broken");
    }

    private static InferenceRequest tensorRequest(String name, long[] shape, float[] data) {
        return InferenceRequest.ofTensors("r", "gemm", List.of(Tensor.fp32(name, shape, data)));
    }

    private static void assertInvalid(LoadedModel model, InferenceRequest request, String messagePart) {
        assertThatThrownBy(() -> model.prepare(request))
                .isInstanceOfSatisfying(ProtocolException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.INVALID_TENSOR);
                    assertThat(e.getMessage()).contains(messagePart);
                });
    }
}
