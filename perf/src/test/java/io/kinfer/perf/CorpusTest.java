package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The unique corpus against the shipped MiniLM tokenizer: every run (whatever its random start) and every call sends
 * the same number of tokens per corpus line, so two processes' figures measure the same workload.
 */
class CorpusTest {

    private static HuggingFaceTokenizer tokenizer;

    @BeforeAll
    static void load() throws Exception {
        // From the stream, as the worker's TextEncoder: the by-name form would download. No truncation, so a
        // longer suffix could not hide behind max_length.
        try (InputStream json = CorpusTest.class.getClassLoader()
                .getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
            tokenizer = HuggingFaceTokenizer.newInstance(json, Map.of("truncation", "false", "padding", "false",
                    "addSpecialTokens", "true"));
        }
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    private static int tokens(String text) {
        return tokenizer.encode(text).getIds().length;
    }

    @Test
    void eachSuffixWordIsOneWholeToken() {
        List<String> words = Corpus.suffixWordList();

        assertThat(words).hasSize(64).doesNotHaveDuplicates();
        for (String word : words) {
            assertThat(tokens(word)).as(word).isEqualTo(3); // [CLS] word [SEP]
        }
    }

    @Test
    void uniqueTextsAddTheSameTokenCountForEveryRunAndCall() {
        List<String> lines = Corpus.builtIn().texts();
        int[] lineTokens = lines.stream().mapToInt(CorpusTest::tokens).toArray();
        SplittableRandom random = new SplittableRandom(7);
        Set<String> seen = new HashSet<>();
        int generated = 0;
        // Random run starts, plus the edges: zero, the largest start, and one that wraps within the first calls.
        long[] starts = new long[203];
        for (int i = 0; i < 200; i++) {
            starts[i] = random.nextLong();
        }
        starts[200] = 0;
        starts[201] = -1;
        starts[202] = (1L << 48) - 5;
        for (long start : starts) {
            Corpus corpus = Corpus.builtIn().unique(start);
            List<String> texts = corpus.next(2 * lines.size());
            for (int i = 0; i < texts.size(); i++) {
                String text = texts.get(i);
                assertThat(tokens(text)).as(text).isEqualTo(lineTokens[i % lines.size()] + Corpus.SUFFIX_DIGITS);
                seen.add(text);
                generated++;
            }
        }
        // Counters far into a run (millions of calls and beyond) write the same number of words.
        for (long n : new long[] {1_000_000, 16_777_215, 16_777_216, 4_000_000_000L, (1L << 47) + 3}) {
            String text = Corpus.suffixed(lines.get(0), n);
            assertThat(tokens(text)).as(text).isEqualTo(lineTokens[0] + Corpus.SUFFIX_DIGITS);
            seen.add(text);
            generated++;
        }

        assertThat(seen).hasSize(generated);
    }

    @Test
    void aRunsTextsAreUniqueAcrossTheWholeCounter() {
        Corpus corpus = Corpus.builtIn().unique(123);
        Set<String> seen = new HashSet<>();
        int count = 200_000;

        for (String text : corpus.next(count)) {
            seen.add(text);
        }

        assertThat(seen).hasSize(count);
        // Distinct numbers give distinct suffixes: base 64 in eight words is one-to-one on 48 bits.
        assertThat(Corpus.suffixed("a", 0)).isNotEqualTo(Corpus.suffixed("a", 1L << 42));
    }
}
