package io.kinfer.config;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/** Secrets never reach a log line: values of keys that look secret are replaced before anything is printed. */
public final class Redaction {

    private static final String[] SECRET_MARKERS = {"password", "secret", "jaas", "api.key", "api.keys", "token",
            "credential", "ssl.key"};

    private Redaction() {
    }

    public static boolean isSecret(String key) {
        String lower = key.toLowerCase(Locale.ROOT);
        for (String marker : SECRET_MARKERS) {
            if (lower.contains(marker)) {
                return true;
            }
        }
        return false;
    }

    /** A sorted copy with secret values replaced by {@code [hidden]}. */
    public static Map<String, Object> redact(Map<String, ?> settings) {
        Map<String, Object> copy = new TreeMap<>();
        settings.forEach((key, value) -> copy.put(key, isSecret(key) ? "[hidden]" : value));
        return copy;
    }
}
