package io.kinfer.config;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The gateway's API keys as its settings give them: {@code gateway.api.keys} (comma-separated) and then the lines of
 * {@code gateway.api.keys.file} (blank lines and {@code #} comments skipped). Read the same way by the gateway, which
 * accepts them, and by the tools that must present one ({@code kinfer perf}).
 */
public final class ApiKeys {

    private ApiKeys() {
    }

    /** {@code csv}: the keys setting, or null; {@code file}: the keys file's path, or null or blank for none. */
    public static List<String> parse(String csv, String file) {
        List<String> keys = new ArrayList<>();
        if (csv != null) {
            for (String key : csv.split(",")) {
                if (!key.isBlank()) {
                    keys.add(key.trim());
                }
            }
        }
        if (file != null && !file.isBlank()) {
            try {
                for (String line : Files.readAllLines(Path.of(file.trim()))) {
                    String key = line.trim();
                    if (!key.isEmpty() && !key.startsWith("#")) {
                        keys.add(key);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read gateway.api.keys.file " + file + ": "
                        + ConfigLoader.reason(e), e);
            }
        }
        return keys;
    }
}
