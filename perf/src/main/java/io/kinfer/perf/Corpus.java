package io.kinfer.perf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Input texts for load: a built-in set of reviews from a few words to a long paragraph (so padding and
 * pad-aware batching matter as they would in production), or one text per line of a file.
 */
public final class Corpus {

    /** The built-in corpus, one text per line; wrk-predict.lua and locustfile.py read the same file. */
    static final String BUILT_IN_RESOURCE = "corpus.txt";

    /**
     * 64 words, each one whole token of the shipped MiniLM (BERT WordPiece) vocabulary, one a line; wrk-predict.lua
     * and locustfile.py read the same file. A unique text's suffix is a number written in these words as base-64
     * digits.
     */
    static final String SUFFIX_WORDS_RESOURCE = "suffix-words.txt";
    /** Digits per suffix: 48 bits, so every unique text has exactly this many tokens more than its line. */
    static final int SUFFIX_DIGITS = 8;
    private static final long SUFFIX_MASK = (1L << (6 * SUFFIX_DIGITS)) - 1;
    private static final String[] SUFFIX_WORDS = suffixWords();

    private final List<String> texts;
    private final boolean unique;
    /**
     * Where this run's suffix numbers start, at random in the 48-bit space: call n gets (start + n) mod 2^48, unique
     * within the run for 2^48 calls, and two runs of a million calls each overlap with a chance of about 1e-8, so
     * texts stay unique across runs against the same long-lived workers and their caches.
     */
    private final long runStart;
    private final AtomicLong next = new AtomicLong();

    private Corpus(List<String> texts, boolean unique, long runStart) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("the corpus is empty");
        }
        this.texts = List.copyOf(texts);
        this.unique = unique;
        this.runStart = runStart;
    }

    /**
     * The same texts, each call's copy made unique by a suffix, so the workers' result cache cannot answer them:
     * what is measured is the model. (Repeated texts measure the cache instead.) The suffix is always
     * {@value #SUFFIX_DIGITS} words, {@value #SUFFIX_DIGITS} tokens with the shipped tokenizer, whatever the run and
     * the call: the old suffix's token count varied with its random run token, so each process ran a different
     * workload, skewing every cross-process ratio (ceiling against load, old build against new).
     */
    public Corpus unique() {
        return unique(new SecureRandom().nextLong());
    }

    /** {@link #unique()} with a given run start (tests). */
    Corpus unique(long runStart) {
        return new Corpus(texts, true, runStart & SUFFIX_MASK);
    }

    public static Corpus builtIn() {
        return new Corpus(nonBlankLines(resourceLines(BUILT_IN_RESOURCE)), false, 0);
    }

    private static List<String> resourceLines(String name) {
        try (InputStream in = Corpus.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("the perf jar lacks its " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One text per non-blank line. */
    public static Corpus fromFile(Path file) throws IOException {
        return new Corpus(nonBlankLines(Files.readAllLines(file)), false, 0);
    }

    private static List<String> nonBlankLines(List<String> all) {
        List<String> lines = new ArrayList<>();
        for (String line : all) {
            if (!line.isBlank()) {
                lines.add(line.strip());
            }
        }
        return lines;
    }

    /** The next {@code count} texts, round robin, so concurrent callers get a spread of lengths. */
    public List<String> next(int count) {
        List<String> batch = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            long n = next.getAndIncrement();
            String text = texts.get((int) (n % texts.size()));
            batch.add(unique ? suffixed(text, runStart + n) : text);
        }
        return batch;
    }

    /** The text, then the number's low 48 bits as eight words, least significant first: a few ns per call. */
    static String suffixed(String text, long number) {
        StringBuilder s = new StringBuilder(text.length() + 8 * SUFFIX_DIGITS).append(text);
        long digits = number & SUFFIX_MASK;
        for (int i = 0; i < SUFFIX_DIGITS; i++) {
            s.append(' ').append(SUFFIX_WORDS[(int) (digits & 63)]);
            digits >>>= 6;
        }
        return s.toString();
    }

    static List<String> suffixWordList() {
        return List.of(SUFFIX_WORDS);
    }

    private static String[] suffixWords() {
        List<String> words = nonBlankLines(resourceLines(SUFFIX_WORDS_RESOURCE));
        if (words.size() != 64) {
            throw new IllegalStateException(SUFFIX_WORDS_RESOURCE + " must hold 64 words, has " + words.size());
        }
        return words.toArray(String[]::new);
    }

    public List<String> texts() {
        return texts;
    }
}
