package io.kinfer.config;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
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
    /**
     * Environment variables of the launcher scripts and of the load scripts in perf/ (wrk, Locust, A/B runs), not
     * settings: exported for one of those, they must not reach a process's settings as unknown keys.
     */
    private static final Set<String> RESERVED = Set.of(CONFIG_FILE_ENV, "KINFER_PARENT_PID",
            "KINFER_JAVA_OPTS", "KINFER_LOG_LEVEL", "KINFER_HOME", "KINFER_JAR", "KINFER_TEXTS", "KINFER_OIP",
            "KINFER_REPEAT", "KINFER_MODEL", "KINFER_UNIQUE_TEXTS");

    private ConfigLoader() {
    }

    /**
     * The merged settings, and for each key where its value came from ("--set batch.max.size=abc", "environment
     * variable KINFER_BATCH_MAX_SIZE", "config file /etc/kinfer.properties"), so an error can name its source.
     */
    public record Loaded(Map<String, String> settings, Map<String, String> sources) {

        public Loaded {
            settings = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
            sources = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(sources));
        }

        /** Where the key's value came from; empty when it has none (its default applies). */
        public Optional<String> sourceOf(String key) {
            return Optional.ofNullable(sources.get(key));
        }
    }

    /** Merges file, environment and flags; later sources win. */
    public static Map<String, String> load(Path file, Map<String, String> environment, Map<String, String> flags) {
        return loadTracked(file, environment, flags, Map.of()).settings();
    }

    /** Settings from the process environment and the given flags (and a file named by the environment). */
    public static Map<String, String> load(Path file, Map<String, String> flags) {
        return load(file, System.getenv(), flags);
    }

    /**
     * As {@link #load(Path, Map, Map)}, remembering each value's source; {@code flagSources} names the flag each
     * key of {@code flags} came from (missing: "a command-line option").
     */
    public static Loaded loadTracked(Path file, Map<String, String> environment, Map<String, String> flags,
                                     Map<String, String> flagSources) {
        Map<String, String> merged = new LinkedHashMap<>();
        Map<String, String> sources = new LinkedHashMap<>();
        Path configFile = file;
        String fileSource = "--config";
        if (configFile == null && environment.get(CONFIG_FILE_ENV) != null && !environment.get(CONFIG_FILE_ENV).isBlank()) {
            configFile = Path.of(environment.get(CONFIG_FILE_ENV));
            fileSource = CONFIG_FILE_ENV;
        }
        if (configFile != null) {
            String source = "config file " + configFile;
            readFile(configFile, fileSource).forEach((key, value) -> {
                merged.put(key, value);
                sources.put(key, source);
            });
        }
        fromEnvironment(environment).forEach((key, value) -> {
            merged.put(key, value);
            sources.put(key, "environment variable " + keyToEnv(key));
        });
        flags.forEach((key, value) -> {
            merged.put(key, value);
            sources.put(key, flagSources.getOrDefault(key, "a command-line option"));
        });
        return new Loaded(merged, sources);
    }

    /** Reads a properties file; {@code namedBy} says where its name came from ({@code --config}), for errors. */
    static Map<String, String> readFile(Path file, String namedBy) {
        Properties props = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            // A byte-order mark (Windows editors, PowerShell's Out-File) would be read into the first key, which
            // then matched no setting and was ignored, its value never checked.
            reader.mark(1);
            if (reader.read() != '\uFEFF') {
                reader.reset();
            }
            props.load(reader);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read config file " + file + " (" + namedBy + "): " + reason(e), e);
        } catch (IllegalArgumentException e) {
            // Properties.load on a malformed unicode escape.
            throw new IllegalArgumentException("cannot read config file " + file + " (" + namedBy + "): "
                    + e.getMessage(), e);
        }
        Map<String, String> map = new LinkedHashMap<>();
        props.stringPropertyNames().forEach(key -> map.put(key, props.getProperty(key).trim()));
        return map;
    }

    /** What went wrong reading a file, in a few words: "no such file", "permission denied", ... */
    public static String reason(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.charset.CharacterCodingException) {
            return "not UTF-8 text";
        }
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }

    /**
     * {@code KINFER_BATCH_MAX_SIZE=8} becomes {@code batch.max.size=8}. An empty value counts as unset, as compose's
     * {@code ${X:-}} and many deployment templates produce it: the default (or the file's value) applies. Only a
     * Kafka client setting keeps it where empty is a meaningful value ({@code
     * KINFER_KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=} turns host-name verification off): see
     * {@link #keepsEmptyValue}.
     */
    static Map<String, String> fromEnvironment(Map<String, String> environment) {
        Map<String, String> map = new LinkedHashMap<>();
        environment.forEach((name, value) -> {
            if (name.startsWith(ENV_PREFIX) && !RESERVED.contains(name) && name.length() > ENV_PREFIX.length()
                    && value != null) {
                String key = envToKey(name);
                if (!value.isBlank() || keepsEmptyValue(key)) {
                    map.put(key, value);
                }
            }
        });
        return map;
    }

    /**
     * Whether an empty environment value of this key is a value rather than "unset": true for Kafka client
     * settings passed through ({@code kafka.*}), except the bootstrap servers (with or without a client prefix),
     * which nothing can connect to empty.
     */
    public static boolean keepsEmptyValue(String key) {
        if (!key.startsWith(KafkaClientProperties.PREFIX)) {
            return false;
        }
        return !key.equals(KafkaClientProperties.BOOTSTRAP_SERVERS)
                && !key.equals(KafkaClientProperties.PRODUCER_PREFIX + "bootstrap.servers")
                && !key.equals(KafkaClientProperties.CONSUMER_PREFIX + "bootstrap.servers")
                && !key.equals(KafkaClientProperties.ADMIN_PREFIX + "bootstrap.servers");
    }

    /**
     * The environment variable that carries exactly this key and value to a kinfer process, or empty where none can
     * (a key with upper case, underscores or hyphens does not map back to itself; a blank value of most keys
     * counts as unset).
     */
    public static Optional<String> environmentVariable(String key, String value) {
        String name = keyToEnv(key);
        if (RESERVED.contains(name) || !envToKey(name).equals(key) || (value.isBlank() && !keepsEmptyValue(key))) {
            return Optional.empty();
        }
        return Optional.of(name);
    }

    public static String envToKey(String name) {
        return name.substring(ENV_PREFIX.length()).toLowerCase(Locale.ROOT).replace('_', '.');
    }

    public static String keyToEnv(String key) {
        return ENV_PREFIX + key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }
}
