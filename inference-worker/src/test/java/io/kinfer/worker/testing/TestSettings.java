package io.kinfer.worker.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import io.kinfer.kafka.embedded.EmbeddedKafka;

/** Settings maps for tests: the cluster's client properties under {@code kafka.}, plus key-value pairs. */
public final class TestSettings {

    /** The jobs module's state key (the worker's tests cannot depend on the jobs module). */
    private static final String JOBS_STATE_DIR = "jobs.state.dir";
    private static final AtomicInteger GATEWAYS = new AtomicInteger();
    private static volatile Path stateRoot;

    private TestSettings() {
    }

    public static Map<String, Object> forKafka(EmbeddedKafka kafka, Object... keyValues) {
        Map<String, Object> settings = new HashMap<>(kafka.clientProperties().entrySet().stream()
                .collect(Collectors.toMap(e -> "kafka." + e.getKey(), Map.Entry::getValue)));
        // A gateway's default job state lives under /tmp/kinfer-jobs/<host>-<port> and outlives the test; each
        // settings map gets a directory of its own that is deleted when the test JVM exits.
        settings.put(JOBS_STATE_DIR, jobStateDir());
        for (int i = 0; i < keyValues.length; i += 2) {
            settings.put((String) keyValues[i], String.valueOf(keyValues[i + 1]));
        }
        return settings;
    }

    /** A fresh directory for one gateway's job state, deleted when the test JVM exits. */
    public static String jobStateDir() {
        return stateRoot().resolve("gateway-" + GATEWAYS.incrementAndGet()).toString();
    }

    private static synchronized Path stateRoot() {
        if (stateRoot == null) {
            try {
                Path root = Files.createTempDirectory("kinfer-test-jobs-");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(root), "delete-test-job-state"));
                stateRoot = root;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return stateRoot;
    }

    private static void deleteQuietly(Path root) {
        try (Stream<Path> paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | UncheckedIOException e) {
            // best effort: a leftover temp directory is harmless
        }
    }
}
