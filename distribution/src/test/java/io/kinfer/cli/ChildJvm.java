package io.kinfer.cli;

import java.util.ArrayList;
import java.util.List;

/**
 * The start of a command line for a JVM a test starts: this JVM's java, and its java.io.tmpdir (target/tmp, from
 * the root pom), so that what the child leaves there (ONNX Runtime extracts its 22 MB of native libraries per
 * process, and only deletes them at a clean exit) stays in target/ instead of filling /tmp.
 */
final class ChildJvm {

    private ChildJvm() {
    }

    /** {@code java -Djava.io.tmpdir=<this JVM's> args...}, to add to. */
    static List<String> command(String... args) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.add("-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
        command.addAll(List.of(args));
        return command;
    }
}
