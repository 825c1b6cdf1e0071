package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

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
