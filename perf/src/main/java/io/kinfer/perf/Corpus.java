package io.kinfer.perf;

import java.io.IOException;
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

    private static final List<String> BUILT_IN = List.of(
            "Great product.",
            "Terrible.",
            "I love this product",
            "Not worth the money.",
            "Works as described, fast shipping.",
            "The battery died after two days of light use.",
            "Absolutely fantastic, I would buy it again without a second thought.",
            "It is fine for the price, but the buttons feel cheap and the case scratches easily.",
            "Customer service never answered my emails, and the replacement part arrived broken.",
            "My kids use it every day and it still looks new after six months.",
            "Setup took five minutes and everything just worked, which is rare these days.",
            "The screen is bright, the speakers are loud, and the remote is easy to use.",
            "Do not buy this: it overheats, the fan is noisy, and the software crashes constantly.",
            "Good value overall.",
            "Meh.",
            "Arrived late and the box was damaged, but the item itself works perfectly well.",
            "The instructions were confusing and two screws were missing from the package, so I had to "
                    + "drive to the hardware store before I could even start assembling the shelf.",
            "After comparing a dozen similar models in the store, I chose this one for its quiet motor and "
                    + "long warranty, and so far it has been reliable through daily use in a busy kitchen.",
            "I wanted to like this blender, but it leaks from the base every single time, the lid does not "
                    + "seal properly, and the company's support team keeps sending me the same useless "
                    + "troubleshooting guide instead of a replacement.",
            "Five stars!",
            "The fabric is soft, the stitching is strong, and the color matches the photos exactly.",
            "Cheap plastic, flimsy hinges, and a smell that did not go away for a week.",
            "Honestly the best purchase I made this year; it saves me an hour every morning.",
            "It stopped charging after the first week and the seller refused a refund.",
            "Solid build quality, intuitive controls, and the app syncs without any trouble at all.",
            "The headphones sound great in quiet rooms, but the noise cancelling barely works on a train, "
                    + "the ear pads get uncomfortably warm after an hour, and the case is too bulky to carry.",
            "Perfect gift for my father, who has already recommended it to all of his friends.",
            "Returned it.",
            "Exactly what I needed for camping: light, waterproof, and surprisingly warm at night.",
            "The update made everything slower and removed the one feature I actually used.",
            "We have had this vacuum for three years now; it still picks up pet hair from carpets and hard "
                    + "floors alike, the filter is easy to clean, and replacement brushes are cheap.",
            "Works.",
            "Disappointing sound, tinny and distorted at anything above half volume.",
            "The chair is comfortable for long work days and the armrests adjust in every direction.",
            "Packaging was wasteful, but the coffee grinder itself is excellent and very consistent.",
            "I ordered the blue one and received a grey one, and the return label did not work.",
            "Lightweight, sturdy, and folds flat; it fits in the trunk of a small car with room to spare.",
            "Too small.",
            "This keyboard changed how I work: the keys are quiet, the layout is sensible, and the battery "
                    + "lasts for months between charges, which matters more than I expected.",
            "Nice design, poor execution.");

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
        return new Corpus(BUILT_IN, false);
    }

    /** One text per non-blank line. */
    public static Corpus fromFile(Path file) throws IOException {
        List<String> lines = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (!line.isBlank()) {
                lines.add(line.strip());
            }
        }
        return new Corpus(lines, false);
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
