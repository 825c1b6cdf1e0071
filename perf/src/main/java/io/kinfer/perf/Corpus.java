package io.kinfer.perf;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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

    private final List<String> texts;
    private final boolean unique;
    /** Differs per run, so texts stay unique across runs against the same long-lived workers and their caches. */
    private final String runToken = Long.toString(System.nanoTime() ^ Double.doubleToLongBits(Math.random()), 36);
    private final AtomicLong next = new AtomicLong();

    private Corpus(List<String> texts, boolean unique) {
        if (texts.isEmpty()) {
            throw new IllegalArgumentException("the corpus is empty");
        }
        this.texts = List.copyOf(texts);
        this.unique = unique;
    }

    /**
     * The same texts, each call's copy made unique by a trailing sequence number, so the workers' result cache
     * cannot answer them: what is measured is the model. (Repeated texts measure the cache instead.)
     */
    public Corpus unique() {
        return new Corpus(texts, true);
    }

    public static Corpus builtIn() {
        try (InputStream in = Corpus.class.getResourceAsStream(BUILT_IN_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the perf jar lacks its corpus " + BUILT_IN_RESOURCE);
            }
            return new Corpus(nonBlankLines(new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().toList()),
                    false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One text per non-blank line. */
    public static Corpus fromFile(Path file) throws IOException {
        return new Corpus(nonBlankLines(Files.readAllLines(file)), false);
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
            batch.add(unique ? text + " #" + runToken + "-" + n : text);
        }
        return batch;
    }

    public List<String> texts() {
        return texts;
    }
}
