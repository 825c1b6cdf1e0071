package io.kinfer.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The shared options of every command: what was given on the command line is told apart from the file and the
 * environment (kinfer up passes on only that), and each value keeps the option it came from.
 */
class ConfigOptionsTest {

    private static ConfigOptions parse(String... args) {
        ConfigOptions options = new ConfigOptions();
        new CommandLine(options).parseArgs(args);
        return options;
    }

    @Test
    void theCommandLineHoldsOnlyWhatWasGivenThereWithTheOptionEachCameFrom() {
        ConfigOptions options = parse("--kafka", "k:1", "--set", "batch.max.size=8", "--set", "gateway.port=2");

        ConfigLoader.Loaded given = options.commandLine(Map.of("gateway.port", "1", "worker.models", "m"),
                Map.of("gateway.port", "--port"));

        assertThat(given.settings()).containsOnly(Map.entry("gateway.port", "2"), Map.entry("worker.models", "m"),
                Map.entry("kafka.bootstrap.servers", "k:1"), Map.entry("batch.max.size", "8"));
        assertThat(given.sourceOf("gateway.port")).contains("--set gateway.port");
        assertThat(given.sourceOf("worker.models")).contains("a command-line option");
        assertThat(given.sourceOf("kafka.bootstrap.servers")).contains("--kafka");
    }

    @Test
    void theCommandLineWinsOverTheEnvironmentAndTheFileAndIsRemembered(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("kinfer.properties"), "worker.models=a\nbatch.max.size=4\n");
        ConfigOptions options = parse("--config", file.toString(), "--set", "batch.max.size=8");

        ConfigLoader.Loaded loaded = options.load(options.commandLine(Map.of("worker.models", "c"),
                Map.of("worker.models", "--models")), Map.of("KINFER_WORKER_MODELS", "b", "KINFER_BATCH_MAX_SIZE", "6"));

        assertThat(loaded.settings()).containsEntry("worker.models", "c").containsEntry("batch.max.size", "8");
        assertThat(loaded.sourceOf("worker.models")).contains("--models");
        assertThat(options.lastLoaded()).contains(loaded);
        assertThat(options.file()).contains(file);
        assertThat(parse().file()).isEmpty();
    }

    @Test
    void aNamedFlagsValueNamesItsOptionAndAnUnnamedOneTheCommandLine() {
        ConfigOptions options = parse();

        Map<String, String> settings = options.load(Map.of("metrics.port", "99999", "worker.id", "w"),
                Map.of("metrics.port", "--metrics-port"));

        assertThat(settings).containsEntry("metrics.port", "99999").containsEntry("worker.id", "w");
        ConfigLoader.Loaded loaded = options.lastLoaded().orElseThrow();
        assertThat(loaded.sourceOf("metrics.port")).contains("--metrics-port");
        assertThat(loaded.sourceOf("worker.id")).contains("a command-line option");
    }
}
