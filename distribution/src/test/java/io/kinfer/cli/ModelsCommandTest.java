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

    private static String run(ModelsCommand command) {
        PrintStream original = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            assertThat(new CommandLine(command).execute()).isZero();
        } finally {
            System.setOut(original);
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
