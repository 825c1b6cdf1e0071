import java.util.Arrays;
import java.util.List;
import java.util.Map;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;

/**
 * What tokenizing one text costs on the worker's consumer thread: DJL's {@code encode} (which copies out every
 * field of the encoding) against reading only ids, mask and types from the native encoding (what the worker does),
 * then the worker's whole {@code prepare} of a one-text request. The shipped MiniLM tokenizer, a 25-token text made
 * unique per call; P50 over 2000 calls, four rounds.
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/Tokenize.java</pre>
 */
public class Tokenize {
    public static void main(String[] args) throws Exception {
        HuggingFaceTokenizer tokenizer;
        try (var json = Tokenize.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
            tokenizer = HuggingFaceTokenizer.newInstance(json, Map.of("maxLength", "256", "truncation", "true",
                    "padding", "false", "addSpecialTokens", "true"));
        }
        TokenizersLibrary lib = TokenizersLibrary.LIB;
        String text = "The delivery was late and the box was damaged, but support replied quickly and sent a "
                + "replacement #";
        try (LoadedModel model = new ModelRepository(null).load("sentiment", "1", new OnnxSettings(1, false, 0))) {
            for (int round = 1; round <= 4; round++) {
                long[] djl = new long[2000];
                long[] direct = new long[2000];
                long[] prepare = new long[2000];
                for (int i = 0; i < djl.length; i++) {
                    String unique = text + round + "-" + i;
                    long start = System.nanoTime();
                    Encoding encoding = tokenizer.encode(unique);
                    long[] ids = encoding.getIds();
                    encoding.getAttentionMask();
                    encoding.getTypeIds();
                    djl[i] = System.nanoTime() - start;

                    start = System.nanoTime();
                    long handle = lib.encode(tokenizer.getHandle(), unique, true);
                    long[] directIds = lib.getTokenIds(handle);
                    lib.getAttentionMask(handle);
                    lib.getTypeIds(handle);
                    lib.deleteEncoding(handle);
                    direct[i] = System.nanoTime() - start;
                    if (!Arrays.equals(ids, directIds)) {
                        throw new AssertionError("the two paths disagree on " + unique);
                    }

                    InferenceRequest request = InferenceRequest.ofTexts("t" + i, "sentiment", List.of(unique + "!"));
                    start = System.nanoTime();
                    model.prepare(request);
                    prepare[i] = System.nanoTime() - start;
                }
                System.out.printf("round %d: DJL encode %.1f us, ids/mask/types only %.1f us, worker prepare %.1f us "
                        + "(P50)%n", round, p50(djl), p50(direct), p50(prepare));
            }
        }
        tokenizer.close();
    }

    private static double p50(long[] nanos) {
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2] / 1e3;
    }
}
