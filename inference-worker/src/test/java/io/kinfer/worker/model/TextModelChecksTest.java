package io.kinfer.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.List;

import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.testing.OnnxModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Text models whose inputs or settings would give wrong answers are made right or refused at load. */
class TextModelChecksTest {

    private static final List<String> WORDS = List.of("good", "great", "bad", "awful");
    private static final String EMBEDDING = """
            {"kind":"text","tokenizer":{"file":"tokenizer.json","max_length":16},"postprocessing":{"kind":"embedding"}}
            """;

    @TempDir
    Path repo;

    /**
     * Without an attention mask the model reads padding as tokens: a short text batched with a long one was
     * answered differently than alone (and the wrong answer cached). Rows of each length now get a call of their own.
     */
    @Test
    void aModelWithoutAnAttentionMaskAnswersAShortTextAsAloneWhateverItsBatchMates() throws Exception {
        OnnxModels.writeVersion(repo, "ids", "1", OnnxModels.idsOnlySum(8, 4), EMBEDDING,
                OnnxModels.wordLevelTokenizer(WORDS));
        try (LoadedModel model = new ModelRepository(repo).load("ids", "1", OnnxSettings.DEFAULTS)) {
            PreparedRequest shortText = model.prepare(InferenceRequest.ofTexts("a", "ids", List.of("good")));
            PreparedRequest longText = model.prepare(InferenceRequest.ofTexts("b", "ids",
                    List.of("bad awful bad awful bad awful", "great")));
            float[] alone = vector(model.infer(List.of(shortText)), 0, 0);
            float[] longAlone = vector(model.infer(List.of(longText)), 0, 0);

            List<List<io.kinfer.protocol.Output>> batched = model.infer(List.of(shortText, longText));

            assertThat(vector(batched, 0, 0)).containsExactly(alone, within(1e-5f));
            assertThat(vector(batched, 1, 0)).containsExactly(longAlone, within(1e-5f));
            assertThat(vector(batched, 1, 1)).as("same length as 'good', one call with it")
                    .containsExactly(vector(model.infer(List.of(model.prepare(InferenceRequest.ofTexts("c", "ids",
                            List.of("great"))))), 0, 0), within(1e-5f));
        }
    }

    /** An export with int32 token ids loaded, then failed every batch; it is refused at load, saying why. */
    @Test
    void aTextModelWithInt32IdsIsRefusedAtLoad() throws Exception {
        OnnxModels.writeVersion(repo, "i32", "1", OnnxModels.int32Ids(8, 4), EMBEDDING,
                OnnxModels.wordLevelTokenizer(WORDS));

        assertThatThrownBy(() -> new ModelRepository(repo).load("i32", "1", OnnxSettings.DEFAULTS).close())
                .isInstanceOf(ModelException.class).hasMessageContaining("input_ids is INT32")
                .hasMessageContaining("int64");
    }

    /** A temperature of 0 made every score NaN; a negative one inverted the classes. Both are refused at load. */
    @Test
    void aClassifierTemperatureThatIsNotPositiveIsRefusedAtLoad() throws Exception {
        for (String temperature : List.of("0", "-0.05")) {
            Path dir = repo.resolve("t" + temperature.replace('-', 'm').replace('.', '_'));
            OnnxModels.writeVersion(dir, "cls", "1", OnnxModels.bagOfEmbeddings(8, 4), """
                    {"kind":"text","tokenizer":{"file":"tokenizer.json","max_length":16},
                     "postprocessing":{"kind":"classify","labels":{"positive":["good great"],"negative":["bad awful"]},
                     "temperature":%s}}
                    """.formatted(temperature), OnnxModels.wordLevelTokenizer(WORDS));

            assertThatThrownBy(() -> new ModelRepository(dir).load("cls", "1", OnnxSettings.DEFAULTS).close())
                    .as(temperature).isInstanceOf(ModelException.class)
                    .hasMessageContaining("postprocessing.temperature must be a positive number");
        }
    }

    private static float[] vector(List<List<io.kinfer.protocol.Output>> outputs, int request, int text) {
        return ((Embedding) outputs.get(request).get(text)).vector();
    }
}
