package io.kinfer.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.awaitility.Awaitility;

/** A worker in its own JVM, from the built kinfer.jar, so a test can SIGKILL it as a real crash would. */
final class WorkerProcess implements AutoCloseable {

    final String id;
    private final Process process;
    private final List<String> output = new CopyOnWriteArrayList<>();

    private WorkerProcess(String id, Process process) {
        this.id = id;
        this.process = process;
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.add(line);
                }
            } catch (IOException e) {
                // gone
            }
        }, "output-" + id);
        reader.setDaemon(true);
        reader.start();
    }

    static WorkerProcess start(String bootstrap, String id, String... settings) throws IOException {
        List<String> command = ChildJvm.command("-Xmx512m", "-jar", Path.of(System.getProperty("kinfer.jar")).toString(),
                "worker", "--kafka", bootstrap, "--id", id, "--models", "sentiment", "--metrics-port", "-1",
                "--set", "onnx.intra.op.threads=1", "--set", "cache.enabled=false");
        for (String setting : settings) {
            command.addAll(List.of("--set", setting));
        }
        return new WorkerProcess(id, new ProcessBuilder(command).redirectErrorStream(true).start());
    }

    WorkerProcess awaitReady() {
        Awaitility.await().atMost(Duration.ofSeconds(90)).until(() -> {
            if (!process.isAlive()) {
                throw new IllegalStateException(id + " exited: " + String.join("\n", output));
            }
            return output.stream().anyMatch(line -> line.startsWith("WORKER_READY"));
        });
        return this;
    }

    /** SIGKILL: no shutdown hook, no drain, no commit, no leaving the group. */
    void kill() throws InterruptedException {
        process.toHandle().destroyForcibly();
        process.waitFor(30, TimeUnit.SECONDS);
    }

    List<String> output() {
        return List.copyOf(output);
    }

    @Override
    public void close() throws InterruptedException {
        process.toHandle().destroy();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.toHandle().destroyForcibly();
        }
    }
}
