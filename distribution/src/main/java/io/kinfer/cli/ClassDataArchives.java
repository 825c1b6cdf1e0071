package io.kinfer.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/**
 * Application class-data sharing (AppCDS) for the processes {@code kinfer up} starts. Starting the pipeline is
 * CPU-bound on a small machine (four JVMs loading Kafka, Scala, Vert.x and ONNX Runtime classes at once): the first
 * run of each role records the classes it loaded into an archive when it stops; later runs map that archive instead
 * of loading, parsing and verifying the same classes again.
 *
 * <p>An archive is named by the jar's size and time and the Java version, so a rebuilt jar or another JDK records
 * afresh. A process records into a temporary file that becomes the archive only after it stopped cleanly, so a
 * killed process never leaves a torn archive behind. A missing or unusable archive costs only the speed-up: the JVM
 * falls back to loading classes as usual, and its CDS logging is off so nothing of this shows in the output.
 */
final class ClassDataArchives {

    private static final String QUIET = "-Xlog:cds*=off";

    private final Path directory;
    private final String stamp;

    ClassDataArchives(Path directory, Path jar) throws IOException {
        this.directory = directory;
        this.stamp = Long.toString(Files.size(jar), 36) + "-" + Long.toString(Files.getLastModifiedTime(jar).toMillis(), 36)
                + "-" + System.getProperty("java.vm.version").replaceAll("[^A-Za-z0-9.]", "_");
    }

    /** JVM options for a process of this role; {@code record} lets it write the role's archive if there is none. */
    List<String> options(String role, boolean record) throws IOException {
        Path archive = archive(role);
        if (Files.isRegularFile(archive)) {
            return List.of(QUIET, "-XX:SharedArchiveFile=" + archive);
        }
        if (!record) {
            return List.of();
        }
        Files.createDirectories(directory);
        deleteOlder(role);
        return List.of(QUIET, "-XX:ArchiveClassesAtExit=" + recording(role));
    }

    /** After a process of this role stopped: keeps what it recorded if it stopped cleanly, else drops it. */
    void finish(String role, boolean stoppedCleanly) {
        Path recording = recording(role);
        try {
            if (stoppedCleanly && Files.size(recording) > 0) {
                Files.move(recording, archive(role), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } else {
                Files.deleteIfExists(recording);
            }
        } catch (IOException e) {
            // Nothing recorded (the process never started, or a JDK without dynamic archives): no speed-up next time.
        }
    }

    Path archive(String role) {
        return directory.resolve(role + "-" + stamp + ".jsa");
    }

    private Path recording(String role) {
        return directory.resolve(role + "-" + stamp + ".jsa.recording");
    }

    private void deleteOlder(String role) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            for (Path file : files.filter(f -> f.getFileName().toString().startsWith(role + "-")).toList()) {
                Files.deleteIfExists(file);
            }
        }
    }
}
