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
        loaded = loadTracked(commandFlags, System.getenv());
        return loaded.settings();
    }

    /** As {@link #load}, with the sources of the values, from the given environment; remembers nothing. */
    public ConfigLoader.Loaded loadTracked(Map<String, String> commandFlags, Map<String, String> environment) {
        Map<String, String> flags = new LinkedHashMap<>(commandFlags);
        Map<String, String> sources = new LinkedHashMap<>();
        if (kafka != null) {
            flags.put(KafkaClientProperties.BOOTSTRAP_SERVERS, kafka);
            sources.put(KafkaClientProperties.BOOTSTRAP_SERVERS, "--kafka");
        }
        settings.forEach((key, value) -> {
            flags.put(key, value);
            sources.put(key, "--set " + key);
        });
        return ConfigLoader.loadTracked(file, environment, flags, sources);
    }

    /** The settings of the last {@link #load}, with their sources; empty before it. */
    public Optional<ConfigLoader.Loaded> lastLoaded() {
        return Optional.ofNullable(loaded);
    }
}
