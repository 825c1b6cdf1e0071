package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import io.kinfer.worker.WorkerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code kinfer models} lists the repository a worker beside it would serve. */
class ModelsCommandTest {

    @Test
    void withoutTheFlagItListsTheRepositoryTheWorkersEnvironmentNames(@TempDir Path repo) throws Exception {
        Files.createDirectories(repo.resolve("foo/1"));
        ModelsCommand command = new ModelsCommand();
        command.environment = Map.of("KINFER_MODEL_REPOSITORY", repo.toString());

        String listed = run(command);

        // Before, only -r was read: in a pod the worker's KINFER_MODEL_REPOSITORY was ignored and foo missing.
        assertThat(listed).contains("foo").contains("sentiment");
        ModelsCommand builtInsOnly = new ModelsCommand();
        builtInsOnly.environment = Map.of();
        assertThat(run(builtInsOnly)).doesNotContain("foo").contains("sentiment");
    }

    @Test
    void itReadsTheRepositoryFromTheWorkersConfigFileAsAWorkerDoes(@TempDir Path dir) throws Exception {
        Path repo = Files.createDirectories(dir.resolve("repo"));
        Files.createDirectories(repo.resolve("bar/1"));
        Path file = Files.writeString(dir.resolve("worker.properties"), "model.repository=" + repo + "\n");

        // Before, --config did not exist and KINFER_CONFIG_FILE was not read: bar was missing.
        ModelsCommand flag = new ModelsCommand();
        flag.environment = Map.of();
        assertThat(run(flag, "--config", file.toString())).contains("bar").contains("sentiment");
        ModelsCommand named = new ModelsCommand();
        named.environment = Map.of("KINFER_CONFIG_FILE", file.toString());
        assertThat(run(named)).contains("bar");
        // The environment wins over the file, and --model-repository over both, as for a worker.
        Path other = Files.createDirectories(dir.resolve("other/baz/1")).getParent().getParent();
        ModelsCommand overridden = new ModelsCommand();
        overridden.environment = Map.of("KINFER_CONFIG_FILE", file.toString(), "KINFER_MODEL_REPOSITORY",
                other.toString());
        assertThat(run(overridden)).contains("baz").doesNotContain("bar");
        ModelsCommand flagWins = new ModelsCommand();
        flagWins.environment = Map.of("KINFER_MODEL_REPOSITORY", other.toString());
        assertThat(run(flagWins, "-r", repo.toString())).contains("bar").doesNotContain("baz");
    }

    /** A repository path that is no directory (a typo in a volume path) listed the built-ins as if all were well. */
    @Test
    void aRepositoryThatIsNoDirectoryIsAnErrorNotTheBuiltInsAlone(@TempDir Path dir) {
        ModelsCommand command = new ModelsCommand();
        command.environment = Map.of("KINFER_MODEL_REPOSITORY", dir.resolve("missing").toString());

        assertThat(new CommandLine(command).execute()).isEqualTo(1);
        assertThatThrownBy(() -> new WorkerConfig(Map.of(WorkerConfig.MODEL_REPOSITORY, dir.resolve("missing").toString())))
                .isInstanceOf(ConfigException.class).hasMessageContaining("model.repository")
                .hasMessageContaining("is not a directory");
    }

    private static String run(ModelsCommand command, String... args) {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(new CommandLine(command).execute(args)).isZero();
        } finally {
            System.setOut(original);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
