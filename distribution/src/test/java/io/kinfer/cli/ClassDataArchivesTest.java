package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Records an archive with a real JVM, then maps it with {@code -Xshare:on}, which fails if the archive is unusable. */
class ClassDataArchivesTest {

    @TempDir
    Path dir;

    @Test
    void recordsOnceThenMapsTheArchive() throws Exception {
        Path jar = Files.writeString(dir.resolve("kinfer.jar"), "stand-in for the jar");
        ClassDataArchives archives = new ClassDataArchives(dir.resolve("cds"), jar);

        assertThat(archives.options("worker", false)).as("only the first process of a role records").isEmpty();
        List<String> recording = archives.options("worker", true);
        assertThat(recording).anyMatch(o -> o.startsWith("-XX:ArchiveClassesAtExit="));
        assertThat(java(recording)).doesNotContain("cds");
        assertThat(archives.archive("worker")).doesNotExist();

        archives.finish("worker", true);
        assertThat(archives.archive("worker")).isNotEmptyFile();
        List<String> mapping = archives.options("worker", true);
        assertThat(mapping).contains("-XX:SharedArchiveFile=" + archives.archive("worker"));
        List<String> strict = new ArrayList<>(mapping);
        strict.add("-Xshare:on");
        assertThat(java(strict)).doesNotContain("cds");
    }

    @Test
    void aProcessThatDidNotStopCleanlyLeavesNoArchive() throws Exception {
        Path jar = Files.writeString(dir.resolve("kinfer.jar"), "stand-in for the jar");
        ClassDataArchives archives = new ClassDataArchives(dir.resolve("cds"), jar);
        java(archives.options("gateway", true));

        archives.finish("gateway", false);

        assertThat(archives.archive("gateway")).doesNotExist();
        try (var files = Files.list(dir.resolve("cds"))) {
            assertThat(files.toList()).isEmpty();
        }
    }

    @Test
    void aRebuiltJarRecordsAfreshAndDropsTheOldArchive() throws Exception {
        Path jar = Files.writeString(dir.resolve("kinfer.jar"), "first build");
        ClassDataArchives first = new ClassDataArchives(dir.resolve("cds"), jar);
        java(first.options("broker", true));
        first.finish("broker", true);

        Files.writeString(jar, "second, longer build");
        ClassDataArchives second = new ClassDataArchives(dir.resolve("cds"), jar);

        assertThat(second.archive("broker")).isNotEqualTo(first.archive("broker"));
        assertThat(second.options("broker", true)).anyMatch(o -> o.startsWith("-XX:ArchiveClassesAtExit="));
        assertThat(first.archive("broker")).doesNotExist();
    }

    /** Runs {@code java <options> -version} and returns its output; it must succeed. */
    private static String java(List<String> options) throws Exception {
        List<String> command = ChildJvm.command();
        command.addAll(options);
        command.add("-version");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(output).isZero();
        return output.replace("sharing)", "");
    }
}
