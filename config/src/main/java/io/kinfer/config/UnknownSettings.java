package io.kinfer.config;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Finds settings that nothing reads: keys no config definition declares and no pass-through prefix
 * ({@code kafka.}, {@code jobs.streams.}) covers, most often a typo ({@code batch.max.szie}) that would otherwise
 * be silently ignored. Which keys are known is the caller's: one file is often shared by several kinds of process
 * (a worker's and a gateway's settings side by side), so a key is unknown only when no kinfer part defines it.
 */
public final class UnknownSettings {

    private UnknownSettings() {
    }

    /** The keys, in their order, that are neither known nor under a pass-through prefix. */
    public static List<String> find(Collection<String> keys, Set<String> known, Collection<String> passThroughPrefixes) {
        List<String> unknown = new ArrayList<>();
        for (String key : keys) {
            if (!known.contains(key) && passThroughPrefixes.stream().noneMatch(key::startsWith)) {
                unknown.add(key);
            }
        }
        return unknown;
    }

    /**
     * One line naming every unknown key, where it came from, and the nearest known key when one is close (a few
     * edits away); empty when there is none.
     */
    public static Optional<String> warning(Collection<String> keys, Set<String> known,
                                           Collection<String> passThroughPrefixes,
                                           Function<String, Optional<String>> sourceOf) {
        List<String> unknown = find(keys, known, passThroughPrefixes);
        if (unknown.isEmpty()) {
            return Optional.empty();
        }
        List<String> parts = new ArrayList<>();
        for (String key : unknown) {
            StringBuilder part = new StringBuilder(key);
            List<String> notes = new ArrayList<>();
            sourceOf.apply(key).ifPresent(source -> notes.add("from " + source));
            nearest(key, known).ifPresent(near -> notes.add("did you mean " + near + "?"));
            if (!notes.isEmpty()) {
                part.append(" (").append(String.join("; ", notes)).append(')');
            }
            parts.add(part.toString());
        }
        return Optional.of((unknown.size() == 1 ? "unknown setting, ignored: " : "unknown settings, ignored: ")
                + String.join(", ", parts));
    }

    /** The known key fewest edits away (letters added, removed, changed or swapped), if close enough. */
    public static Optional<String> nearest(String key, Collection<String> known) {
        int limit = Math.max(2, key.length() / 5);
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String candidate : known) {
            if (Math.abs(candidate.length() - key.length()) > limit) {
                continue;
            }
            int distance = distance(key, candidate);
            if (distance <= limit && (distance < bestDistance
                    || (distance == bestDistance && candidate.compareTo(best) < 0))) {
                best = candidate;
                bestDistance = distance;
            }
        }
        return Optional.ofNullable(best);
    }

    /** Optimal string alignment distance: Levenshtein plus the swap of two neighbouring characters. */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
                }
            }
        }
        return d[a.length()][b.length()];
    }
}
