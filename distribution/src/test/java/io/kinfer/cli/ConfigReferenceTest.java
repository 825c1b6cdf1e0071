package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

class ConfigReferenceTest {

    /** docs/CONFIGURATION.md is generated from the ConfigDefs; regenerate with `./kinfer config --write ...`. */
    @Test
    void configurationReferenceMatchesTheCode() throws Exception {
        Path doc = Path.of("..", "docs", "CONFIGURATION.md");

        assertThat(Files.readString(doc))
                .as("docs/CONFIGURATION.md is stale: run ./kinfer config --write docs/CONFIGURATION.md")
                .isEqualTo(ConfigCommand.reference());
    }

    @Test
    void everyCommandHasHelp() {
        var cli = Kinfer.commandLine();
        for (String command : new String[] {"up", "worker", "gateway", "produce", "perf", "models", "config"}) {
            assertThat(cli.getSubcommands().get(command).getUsageMessage()).contains("Usage:").contains("--help");
        }
    }
}
