package io.kinfer.config;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import picocli.CommandLine.Option;

/**
 * The options every kinfer command shares for its settings, as a picocli mixin: a config file, any setting as
 * {@code --set key=value}, and {@code --kafka} for the bootstrap servers. A command's own named options are
 * flags too; {@code --set} is applied after them, so it wins. See {@link ConfigLoader} for the full order.
 */
public final class ConfigOptions {

    private static final String NAMED_OPTION = "a command-line option";

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "Properties file with settings (also KINFER_CONFIG_FILE).")
    Path file;

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE",
            description = "Any setting, e.g. --set batch.max.size=16 or --set kafka.consumer.max.poll.records=200 "
                    + "(repeatable; overrides file and environment).")
    Map<String, String> settings = new LinkedHashMap<>();

    @Option(names = {"-k", "--kafka"}, paramLabel = "HOST:PORT[,...]",
            description = "Kafka bootstrap servers (setting kafka.bootstrap.servers; default 127.0.0.1:9092).")
    String kafka;

    /** What the last {@link #load} merged, for error messages that name a value's source. */
    private ConfigLoader.Loaded loaded;

    /** File, then environment, then the command's named flags, then --kafka and --set. */
    public Map<String, String> load(Map<String, String> commandFlags) {
        return load(commandFlags, Map.of());
    }

    /**
     * As {@link #load(Map)}; {@code commandFlagSources} names each named flag's option (e.g. {@code --metrics-port}
     * for {@code metrics.port}), which an error about its value then names, as {@link #commandLine} describes.
     */
    public Map<String, String> load(Map<String, String> commandFlags, Map<String, String> commandFlagSources) {
        return load(commandLine(commandFlags, commandFlagSources), System.getenv()).settings();
    }

    /** Puts {@code value} as the setting {@code key}, from {@code option}, when the option was given (not null). */
    public static void putFlag(Map<String, String> flags, Map<String, String> flagSources, String key, String option,
                               Object value) {
        if (value != null) {
            flags.put(key, value.toString());
            flagSources.put(key, option);
        }
    }

    /**
     * File, then the given environment, then {@code commandLine} (from {@link #commandLine}), with the sources of
     * the values; remembered for {@link #lastLoaded}.
     */
    public ConfigLoader.Loaded load(ConfigLoader.Loaded commandLine, Map<String, String> environment) {
        loaded = ConfigLoader.loadTracked(file, environment, commandLine.settings(), commandLine.sources());
        return loaded;
    }

    /** As {@link #load}, with the sources of the values, from the given environment; remembers nothing. */
    public ConfigLoader.Loaded loadTracked(Map<String, String> commandFlags, Map<String, String> environment) {
        ConfigLoader.Loaded given = commandLine(commandFlags, Map.of());
        return ConfigLoader.loadTracked(file, environment, given.settings(), given.sources());
    }

    /**
     * Only the settings given on this command line, each with the option it came from: the command's named flags
     * ({@code commandFlagSources} names each one's option, e.g. {@code --port} for {@code gateway.port}; else "a
     * command-line option"), then {@code --kafka}, then {@code --set}, later ones winning. A key missing here was
     * not given on the command line: its value, if any, comes from the file, the environment or its default.
     */
    public ConfigLoader.Loaded commandLine(Map<String, String> commandFlags, Map<String, String> commandFlagSources) {
        Map<String, String> flags = new LinkedHashMap<>();
        Map<String, String> sources = new LinkedHashMap<>();
        commandFlags.forEach((key, value) -> {
            flags.put(key, value);
            sources.put(key, commandFlagSources.getOrDefault(key, NAMED_OPTION));
        });
        if (kafka != null) {
            flags.put(KafkaClientProperties.BOOTSTRAP_SERVERS, kafka);
            sources.put(KafkaClientProperties.BOOTSTRAP_SERVERS, "--kafka");
        }
        settings.forEach((key, value) -> {
            flags.put(key, value);
            sources.put(key, "--set " + key);
        });
        return new ConfigLoader.Loaded(flags, sources);
    }

    /** The {@code --config} file, when one was given (a file named by KINFER_CONFIG_FILE is not this). */
    public Optional<Path> file() {
        return Optional.ofNullable(file);
    }

    /** The settings of the last {@link #load}, with their sources; empty before it. */
    public Optional<ConfigLoader.Loaded> lastLoaded() {
        return Optional.ofNullable(loaded);
    }
}
