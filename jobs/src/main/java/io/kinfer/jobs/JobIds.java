package io.kinfer.jobs;

import java.security.SecureRandom;
import java.util.regex.Pattern;

/**
 * Job ids: 24 characters of {@code [0-9a-z]}, the creation time (epoch ms, base 36, 9 characters) followed by 15
 * random characters (about 77 bits). The id is the only key to a job's results, so it must not be guessable; the
 * time prefix lets any instance tell a job created a moment ago (not materialized yet: pending) from an unknown or
 * long-expired one (404) without asking anyone.
 */
final class JobIds {

    static final int LENGTH = 24;
    private static final int TIME_CHARS = 9;
    private static final Pattern FORMAT = Pattern.compile("[0-9a-z]{" + LENGTH + "}");
    private static final char[] ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz".toCharArray();

    private final SecureRandom random = new SecureRandom();

    String next(long nowMs) {
        StringBuilder id = new StringBuilder(LENGTH);
        String time = Long.toString(nowMs, 36);
        id.append("0".repeat(Math.max(0, TIME_CHARS - time.length()))).append(time);
        while (id.length() < LENGTH) {
            id.append(ALPHABET[random.nextInt(ALPHABET.length)]);
        }
        return id.toString();
    }

    static boolean isValid(String id) {
        return id != null && FORMAT.matcher(id).matches();
    }

    /** The creation time encoded in a valid id. */
    static long createdMs(String id) {
        return Long.parseLong(id.substring(0, TIME_CHARS), 36);
    }

    static String describeFormat() {
        return LENGTH + " lowercase letters and digits, as returned by POST /v1/jobs";
    }
}
