package io.kinfer.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

import io.kinfer.protocol.Classification;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.protocol.Timings;
import org.junit.jupiter.api.Test;

/** The OIP answer of a text classifier during a rollout: scores in the labels of the version that answered. */
class OipApiTest {

    /** The version resolved before sending: the latest, v2, with a third label. */
    private static final ModelMetadata V2 = new ModelMetadata("sentiment", "2", ModelMetadata.TEXT, "classify",
            List.of(new TensorMetadata("text", DataType.BYTES, new long[] {-1})),
            List.of(new TensorMetadata("label", DataType.BYTES, new long[] {-1})),
            List.of("pos", "neg", "neutral"), 8, null);
    private static final Function<String, List<String>> CATALOG = version -> Map.of(
            "1", List.of("pos", "neg"), "2", List.of("pos", "neg", "neutral")).getOrDefault(version, List.of());

    private static InferenceReply reply(String version, String label, Object... scores) {
        Map<String, Float> map = new LinkedHashMap<>();
        for (int i = 0; i < scores.length; i += 2) {
            map.put((String) scores[i], (Float) scores[i + 1]);
        }
        return InferenceReply.success("r", "sentiment", version, List.of(new Classification(label, map)),
                new Timings(0, 0, 1, "w", false));
    }

    private static Tensor scores(List<Tensor> outputs) {
        return outputs.stream().filter(t -> t.name().equals("scores")).findFirst().orElseThrow();
    }

    @Test
    void aReplyFromTheOlderVersionIsScoredWithItsOwnLabels() {
        List<InferenceReply> replies = List.of(reply("1", "neg", "pos", 0.25f, "neg", 0.75f),
                reply("1", "pos", "pos", 0.5f, "neg", 0.5f));

        Tensor scores = scores(OipApi.textOutputs(V2, CATALOG, replies, Set.of()));

        assertThat(scores.shape()).containsExactly(2, 2);
        assertThat(scores.fp32()).containsExactly(0.25f, 0.75f, 0.5f, 0.5f);
    }

    @Test
    void aVersionTheCatalogNoLongerKnowsIsScoredInTheReplysOrder() {
        List<InferenceReply> replies = List.of(reply("3", "b", "b", 0.75f, "a", 0.25f));

        Tensor scores = scores(OipApi.textOutputs(V2, CATALOG, replies, Set.of()));

        assertThat(scores.shape()).containsExactly(1, 2);
        assertThat(scores.fp32()).containsExactly(0.75f, 0.25f);
    }

    @Test
    void aReplyThatLacksOneOfItsVersionsLabelsIs502() {
        List<InferenceReply> replies = List.of(reply("2", "pos", "pos", 0.75f, "neg", 0.25f));

        assertThatThrownBy(() -> OipApi.textOutputs(V2, CATALOG, replies, Set.of()))
                .isInstanceOfSatisfying(HttpError.class, e -> {
                    assertThat(e.status()).isEqualTo(502);
                    assertThat(e.code()).isEqualTo("bad_reply");
                });
    }

    /** A text call's parameters: what the call waited for over all its texts, not the first text's alone. */
    @Test
    void aTextCallsTimingsAreItsSlowestTextsAndCachedOnlyWhenAllWere() {
        InferenceReply cached = InferenceReply.success("a", "sentiment", "2", List.of(), new Timings(0, 0, 0, "w1", true));
        InferenceReply computed = InferenceReply.success("b", "sentiment", "2", List.of(),
                new Timings(4.5, 12.0, 8, "w2", false));

        Timings timings = OipApi.slowest(List.of(cached, computed));

        assertThat(timings.queueMs()).isEqualTo(4.5);
        assertThat(timings.inferenceMs()).isEqualTo(12.0);
        assertThat(timings.batchSize()).isEqualTo(8);
        assertThat(timings.cached()).isFalse();
        assertThat(OipApi.slowest(List.of(cached, cached)).cached()).isTrue();
    }
}
