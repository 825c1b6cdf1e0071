package io.kinfer.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.List;

import io.kinfer.protocol.Classification;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shipped models, loaded from the classpath as the worker loads them, through real ONNX Runtime. */
class MiniLmModelTest {

    private static LoadedModel minilm;
    private static LoadedModel sentiment;

    @BeforeAll
    static void load() throws Exception {
        ModelRepository repository = ModelRepository.builtInsOnly();
        minilm = repository.load("minilm", "1", new OnnxSettings(1, false));
        sentiment = repository.load("sentiment", "1", new OnnxSettings(1, false));
    }

    @AfterAll
    static void close() {
        minilm.close();
        sentiment.close();
    }

    @Test
    void similarSentencesAreFarCloserThanUnrelatedOnes() throws Exception {
        float[] food = embed("A man is eating food.");
        float[] bread = embed("A man is eating a piece of bread.");
        float[] baby = embed("The girl is carrying a baby.");

        double close = dot(food, bread);
        double far = dot(food, baby);

        assertThat(close).isGreaterThan(0.6);
        assertThat(far).isLessThan(0.3);
        assertThat(close - far).isGreaterThan(0.4);
    }

    @Test
    void embeddingsAreUnitLength384() throws Exception {
        float[] v = embed("Kafka is a distributed log.");
        assertThat(v).hasSize(384);
        assertThat(dot(v, v)).isCloseTo(1.0, within(1e-4));
    }

    /**
     * The int8 model quantizes activations dynamically with one scale per batch tensor, so a text's vector
     * depends slightly on its batch-mates (measured: up to about 0.02 cosine distance). Exact padding
     * correctness is checked on the float model in {@code GeneratedModelTest}.
     */
    @Test
    void aBatchOfMixedLengthsGivesNearlyTheSameVectorsAsSingleRuns() throws Exception {
        List<String> texts = List.of("Short.", "A considerably longer sentence that needs many more tokens than the first.",
                "Medium length text here.");
        List<PreparedRequest> batch = new ArrayList<>();
        for (String text : texts) {
            batch.add(minilm.prepare(InferenceRequest.ofTexts("b", "minilm", List.of(text))));
        }

        List<List<Output>> batched = minilm.infer(batch);

        for (int i = 0; i < texts.size(); i++) {
            float[] alone = embed(texts.get(i));
            float[] inBatch = ((Embedding) batched.get(i).get(0)).vector();
            assertThat(dot(alone, inBatch)).isGreaterThan(0.97);
        }
    }

    @Test
    void sentimentLabelsClearCases() throws Exception {
        assertThat(classify("I love this product").label()).isEqualTo("positive");
        assertThat(classify("Absolutely brilliant, I would buy it again").label()).isEqualTo("positive");
        assertThat(classify("This is the worst purchase I have ever made").label()).isEqualTo("negative");
        assertThat(classify("It broke after a day, total garbage").label()).isEqualTo("negative");
    }

    @Test
    void sentimentScoresAreAProbabilityPerLabel() throws Exception {
        Classification c = classify("I love this product");
        assertThat(c.scores()).containsOnlyKeys("positive", "negative");
        assertThat(c.scores().values().stream().mapToDouble(Float::doubleValue).sum()).isCloseTo(1.0, within(1e-4));
        assertThat(c.scores().get("positive")).isGreaterThan(0.5f);
        assertThat(sentiment.metadata().labels()).containsExactly("positive", "negative");
    }

    /**
     * Texts that are not blank to Java ({@code isBlank()}, which the codec checks) but are to the tokenizer, whose
     * normalization drops them: before, they were answered success with the vector of [CLS] [SEP] alone.
     */
    @Test
    void textsBlankOnlyOnceNormalizedAreEmptyInput() throws Exception {
        for (String blank : List.of("\u00a0", "\u200b", "\u0001", "\ufffd", " \u00a0\u200b\u0001\ufffd ")) {
            for (LoadedModel model : List.of(minilm, sentiment)) {
                assertThatThrownBy(() -> model.prepare(InferenceRequest.ofTexts("b", "minilm",
                        List.of("A real sentence.", blank))))
                        .as("%s", blank.chars().mapToObj(Integer::toHexString).toList())
                        .isInstanceOfSatisfying(ProtocolException.class, e -> {
                            assertThat(e.code()).isEqualTo(ErrorCode.EMPTY_INPUT);
                            assertThat(e.getMessage()).contains("inputs[1]");
                        });
            }
        }
        // Not empty: a text the vocabulary knows only as [UNK] still has a token of its own.
        assertThat(minilm.prepare(InferenceRequest.ofTexts("u", "minilm", List.of("\u2603"))).length()).isGreaterThan(2);
    }

    /**
     * With two threads per call, calls of at most {@code onnx.single.thread.max.tokens} padded tokens go to the
     * single-threaded second session and larger ones to the two-threaded one; both give the vectors of a model
     * loaded without the second session.
     */
    @Test
    void smallCallsRunOnTheSingleThreadedSessionWithTheSameResults() throws Exception {
        ModelRepository repository = ModelRepository.builtInsOnly();
        List<String> shortText = List.of("Kafka is a log."); // [CLS] + 5 tokens + [SEP]: well under 16
        List<String> longBatch = List.of("A considerably longer sentence that needs many more tokens than the first.",
                "Medium length text here.");
        try (LoadedModel split = repository.load("minilm", "1", new OnnxSettings(2, false, 16));
             LoadedModel whole = repository.load("minilm", "1", new OnnxSettings(2, false, 0))) {
            TextModel splitModel = (TextModel) split;

            List<float[]> small = vectors(split, shortText);
            assertThat(splitModel.singleThreadedRuns()).isEqualTo(1);
            List<float[]> large = vectors(split, longBatch);
            assertThat(splitModel.singleThreadedRuns()).as("two rows padded to the longer one: 2 x about 18 tokens, over 16").isEqualTo(1);

            assertThat(dot(small.get(0), vectors(whole, shortText).get(0))).isGreaterThan(0.9999);
            List<float[]> largeWhole = vectors(whole, longBatch);
            for (int i = 0; i < longBatch.size(); i++) {
                assertThat(dot(large.get(i), largeWhole.get(i))).isGreaterThan(0.9999);
            }
            assertThat(((TextModel) whole).singleThreadedRuns()).isZero();
        }
    }

    @Test
    void aSingleThreadedModelMakesNoSecondSession() throws Exception {
        try (LoadedModel model = ModelRepository.builtInsOnly().load("minilm", "1", new OnnxSettings(1, false, 64))) {
            vectors(model, List.of("Kafka is a log."));
            assertThat(((TextModel) model).singleThreadedRuns()).isZero();
        }
    }

    /** The texts as one request, so one model call. */
    private static List<float[]> vectors(LoadedModel model, List<String> texts) throws Exception {
        PreparedRequest prepared = model.prepare(InferenceRequest.ofTexts("t", "minilm", texts));
        return model.infer(List.of(prepared)).get(0).stream().map(output -> ((Embedding) output).vector()).toList();
    }

    private static float[] embed(String text) throws Exception {
        PreparedRequest prepared = minilm.prepare(InferenceRequest.ofTexts("t", "minilm", List.of(text)));
        return ((Embedding) minilm.infer(List.of(prepared)).get(0).get(0)).vector();
    }

    private static Classification classify(String text) throws Exception {
        PreparedRequest prepared = sentiment.prepare(InferenceRequest.ofTexts("t", "sentiment", List.of(text)));
        return (Classification) sentiment.infer(List.of(prepared)).get(0).get(0);
    }

    static double dot(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
