package io.kinfer.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** {@code java -jar kinfer.jar up ...} as a user runs it, its output collected, stopped as Ctrl-C would. */
final class UpProcess implements AutoCloseable {

    private final Process process;
    private final List<String> output = new CopyOnWriteArrayList<>();
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final Thread reader;

    private UpProcess(Process process) {
        this.process = process;
        this.reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.add(line);
                    // The banner's last line: everything it promises has been printed.
                    if (line.contains("Ctrl-C stops everything")) {
                        ready.complete(null);
                    }
                }
            } catch (IOException e) {
                // process ended
            }
            ready.completeExceptionally(new IllegalStateException("kinfer up ended before it was ready:\n"
                    + String.join("\n", output)));
        }, "up-output");
        reader.setDaemon(true);
        reader.start();
    }

    static UpProcess start(Path work, Map<String, String> environment, String... args) throws IOException {
        List<String> command = ChildJvm.command("-jar", Path.of(System.getProperty("kinfer.jar")).toString(), "up");
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().keySet().removeIf(name -> name.startsWith("KINFER_"));
        builder.environment().put("KINFER_HOME", work.resolve("home").toAbsolutePath().toString());
        builder.environment().putAll(environment);
        return new UpProcess(builder.start());
    }

    /** Waits for the "kinfer is up" banner; fails with the whole output when up ends first. */
    UpProcess awaitReady(int seconds) throws Exception {
        ready.get(seconds, TimeUnit.SECONDS);
        return this;
    }

    List<String> output() {
        return List.copyOf(output);
    }

    /** The command lines of every process up started (and theirs), as ps shows them to anyone on the machine. */
    List<String> childCommandLines() {
        return process.descendants().map(child -> child.info().commandLine().orElse("")).toList();
    }

    /** The processes up started (and theirs), while they run. */
    List<ProcessHandle> descendants() {
        return process.descendants().toList();
    }

    /**
     * SIGTERM, as Ctrl-C's SIGINT would (ProcessHandle.destroy keeps the pipe open for the last lines); true when
     * everything stopped within two minutes, else it is killed.
     */
    boolean stop() throws InterruptedException {
        process.toHandle().destroy();
        boolean exited = process.waitFor(120, TimeUnit.SECONDS);
        if (!exited) {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }
        reader.join(5_000);
        return exited;
    }

    /** Waits for up to end by itself; its exit code, or empty when it still runs after {@code seconds}. */
    OptionalInt awaitExit(int seconds) throws InterruptedException {
        if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
            return OptionalInt.empty();
        }
        reader.join(5_000);
        return OptionalInt.of(process.exitValue());
    }

    @Override
    public void close() throws Exception {
        if (process.isAlive()) {
            stop();
        }
    }
}
