package io.kinfer.config;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * Gathers settings from the three places every kinfer part reads, in increasing precedence:
 * <ol>
 *   <li>a properties file ({@code --config FILE}, or the file named by {@code KINFER_CONFIG_FILE});</li>
 *   <li>environment variables: {@code KINFER_} followed by the key in upper case with dots as underscores, so
 *       {@code batch.max.size} is {@code KINFER_BATCH_MAX_SIZE} and {@code kafka.consumer.max.poll.records} is
 *       {@code KINFER_KAFKA_CONSUMER_MAX_POLL_RECORDS};</li>
 *   <li>command-line flags ({@code --set key=value} and the named options of each command).</li>
 * </ol>
 * The defaults come last of all from each part's {@code ConfigDef}. Keys use dots only, never underscores, so the
 * environment mapping is exact for kinfer keys and for Kafka client keys alike.
 */
public final class ConfigLoader {

    public static final String ENV_PREFIX = "KINFER_";
    public static final String CONFIG_FILE_ENV = "KINFER_CONFIG_FILE";
    /** Environment variables of the launcher scripts, not settings. */
    private static final Set<String> RESERVED = Set.of(CONFIG_FILE_ENV, "KINFER_PARENT_PID",
            "KINFER_JAVA_OPTS", "KINFER_LOG_LEVEL", "KINFER_HOME");

    private ConfigLoader() {
    }

    /** Merges file, environment and flags; later sources win. */
    public static Map<String, String> load(Path file, Map<String, String> environment, Map<String, String> flags) {
        Map<String, String> merged = new LinkedHashMap<>();
        Path configFile = file;
        if (configFile == null && environment.get(CONFIG_FILE_ENV) != null && !environment.get(CONFIG_FILE_ENV).isBlank()) {
            configFile = Path.of(environment.get(CONFIG_FILE_ENV));
        }
        if (configFile != null) {
            merged.putAll(readFile(configFile));
        }
        merged.putAll(fromEnvironment(environment));
        merged.putAll(flags);
        return merged;
    }

    /** Settings from the process environment and the given flags (and a file named by the environment). */
    public static Map<String, String> load(Path file, Map<String, String> flags) {
        return load(file, System.getenv(), flags);
    }

    static Map<String, String> readFile(Path file) {
        Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            props.load(reader);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read config file " + file, e);
        }
        Map<String, String> map = new LinkedHashMap<>();
        props.stringPropertyNames().forEach(key -> map.put(key, props.getProperty(key).trim()));
        return map;
    }

    /**
     * {@code KINFER_BATCH_MAX_SIZE=8} becomes {@code batch.max.size=8}. An empty value of a kinfer setting counts as
     * unset, as compose's {@code ${X:-}} and many deployment templates produce it: the default (or the file's value)
     * applies. A Kafka setting keeps it: empty is a meaningful value there
     * ({@code KINFER_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=} turns host-name verification off).
     */
    static Map<String, String> fromEnvironment(Map<String, String> environment) {
        Map<String, String> map = new LinkedHashMap<>();
        environment.forEach((name, value) -> {
            if (name.startsWith(ENV_PREFIX) && !RESERVED.contains(name) && name.length() > ENV_PREFIX.length()
                    && value != null) {
                String key = envToKey(name);
                if (!value.isBlank() || key.startsWith("kafka.")) {
                    map.put(key, value);
                }
            }
        });
        return map;
    }

    public static String envToKey(String name) {
        return name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.');
    }

    public static String keyToEnv(String key) {
        return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }
}
