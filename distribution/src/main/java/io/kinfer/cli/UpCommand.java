package io.kinfer.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.kinfer.config.ConfigLoader;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.gateway.GatewayCommand;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerCommand;
import io.kinfer.worker.WorkerConfig;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code kinfer up}: the whole pipeline on this machine. Starts a real Kafka broker as its own process (unless
 * {@code --kafka} names a cluster), creates the topics, starts the workers and the gateway as their own
 * processes, waits until the gateway reports ready and every model is served, prints where everything is, and on
 * Ctrl-C stops the gateway, then the workers (which drain and commit), then the broker.
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Runs the whole pipeline locally: a Kafka broker (KRaft), --workers worker processes and the "
                + "gateway, each its own process. Ctrl-C stops everything in order."})
public final class UpCommand implements Callable<Integer> {

    /** Set in each child so it exits when this process dies without stopping it. */
    static final String PARENT_PID_ENV = "KINFER_PARENT_PID";
    /** What {@code kinfer broker} prints once it serves (its classes are not on this classpath). */
    static final String BROKER_READY = "KAFKA_READY ";

    @Option(names = {"-w", "--workers"}, defaultValue = "2", description = "Worker processes. Default: ${DEFAULT-VALUE}.")
    int workers;

    @Option(names = {"-p", "--port"}, defaultValue = "8080", description = "Gateway port. Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--kafka-port", defaultValue = "9092",
            description = "Port of the local broker (its controller uses the next one; 0: any free ports). Default: ${DEFAULT-VALUE}.")
    int kafkaPort;

    @Option(names = {"-k", "--kafka"}, paramLabel = "HOST:PORT[,...]",
            description = "Use this Kafka cluster instead of starting a local broker.")
    String kafka;

    @Option(names = "--fresh", description = "Delete the local broker's data and the gateway's job state first "
            + "(default: reuse them).")
    boolean fresh;

    @Option(names = "--data-dir", defaultValue = ".kinfer", description = "Where the local broker keeps its data "
            + "(under kafka/). Default: ${DEFAULT-VALUE}.")
    Path dataDir;

    @Option(names = {"-m", "--models"}, defaultValue = "sentiment,minilm",
            description = "Models every worker serves. Default: ${DEFAULT-VALUE}.")
    String models;

    @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR", description = "Model repository directory.")
    Path repository;

    @Option(names = "--partitions", defaultValue = "12", description = "Partitions per request topic (the most "
            + "useful workers per model in consumer-group mode). Default: ${DEFAULT-VALUE}.")
    int partitions;

    @Option(names = "--metrics-base-port", defaultValue = "9400",
            description = "Worker i serves /metrics on this port + i. Default: ${DEFAULT-VALUE}.")
    int metricsBasePort;

    @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE",
            description = "A setting for every worker and the gateway (repeatable), e.g. --set batch.max.size=16.")
    Map<String, String> settings = new LinkedHashMap<>();

    @Option(names = {"-c", "--config"}, paramLabel = "FILE", description = "Properties file with settings for every "
            + "worker and the gateway (also KINFER_CONFIG_FILE); --set wins over it.")
    Path configFile;

    @Option(names = "--ready-timeout", defaultValue = "120", description = "Seconds to wait for readiness. "
            + "Default: ${DEFAULT-VALUE}.")
    int readyTimeoutSeconds;

    @Option(names = "--class-data-sharing", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Record the classes each kind of process loads on its first run (under the data "
                    + "directory's cds/) and map them on later runs: a faster start. Default: ${DEFAULT-VALUE}.")
    boolean classDataSharing;

    @Option(names = "--class-data-dir", paramLabel = "DIR", description = "Where the class archives are kept. "
            + "Default: cds/ in the data directory.")
    Path classDataDir;

    @Option(names = "--exit-when-ready", hidden = true, description = "Stop everything once ready (a training run "
            + "that records the class archives; ./kinfer does one after it builds the jar).")
    boolean exitWhenReady;

    private final List<Child> children = new CopyOnWriteArrayList<>();
    private ClassDataArchives archives;
    private volatile boolean stopping;

    @Override
    public Integer call() throws Exception {
        long started = System.nanoTime();
        Path jar = selfJar();
        archives = classDataSharing
                ? new ClassDataArchives(classDataDir != null ? classDataDir : dataDir.resolve("cds"), jar) : null;
        Thread hook = new Thread(this::stopAll, "kinfer-up-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(readyTimeoutSeconds);
        try {
            String bootstrap = kafka;
            if (bootstrap == null) {
                List<String> args = new ArrayList<>(List.of("broker", "--port", Integer.toString(kafkaPort),
                        "--controller-port", Integer.toString(kafkaPort == 0 ? 0 : kafkaPort + 1),
                        "--data-dir", dataDir.resolve("kafka").toString(),
                        "-p", "num.partitions=" + partitions));
                if (fresh) {
                    args.add("--fresh");
                }
                Child broker = spawn("broker", "broker", jar, args, List.of("-Xmx768m"));
                bootstrap = broker.awaitMarker(BROKER_READY, deadline).trim();
            }
            List<String> served = createTopics(bootstrap);
            List<String> shared = new ArrayList<>();
            if (configFile != null) {
                shared.addAll(List.of("--config", configFile.toAbsolutePath().toString()));
            }
            List<Child> workerProcesses = new ArrayList<>();
            for (int i = 1; i <= workers; i++) {
                List<String> args = new ArrayList<>(List.of("worker", "--kafka", bootstrap, "--id", "worker-" + i,
                        "--metrics-port", Integer.toString(metricsBasePort + i), "--models", models,
                        "--set", "topics.partitions=" + partitions));
                if (repository != null) {
                    args.addAll(List.of("--model-repository", repository.toAbsolutePath().toString()));
                }
                args.addAll(shared);
                settings.forEach((key, value) -> args.addAll(List.of("--set", key + "=" + value)));
                workerProcesses.add(spawn("worker-" + i, "worker", jar, args, List.of()));
            }
            // The jobs' local state next to the broker's data (Kafka Streams' default, the system's temp directory,
            // is shared by every checkout and survives --fresh, which then served jobs the new broker never had).
            // A directory the user chose (file, environment or --set) is theirs, and left alone.
            List<String> gatewayArgs = new ArrayList<>(List.of("gateway", "--kafka", bootstrap,
                    "--port", Integer.toString(port)));
            if (!ConfigLoader.load(configFile, settings).containsKey(JobsConfig.STATE_DIR)) {
                Path jobState = dataDir.resolve("jobs").toAbsolutePath();
                if (fresh) {
                    deleteRecursively(jobState);
                }
                gatewayArgs.addAll(List.of("--set", JobsConfig.STATE_DIR + "=" + jobState));
            }
            gatewayArgs.addAll(shared);
            settings.forEach((key, value) -> gatewayArgs.addAll(List.of("--set", key + "=" + value)));
            Child gateway = spawn("gateway", "gateway", jar, gatewayArgs, List.of());

            List<String> metrics = new ArrayList<>();
            for (Child worker : workerProcesses) {
                String[] ready = worker.awaitMarker(WorkerCommand.READY_MARKER, deadline).trim().split(" ");
                metrics.add(ready[ready.length - 1] + " (" + worker.name + ")");
            }
            String url = gateway.awaitMarker(GatewayCommand.READY_MARKER, deadline).trim();
            awaitReady(url, served, deadline);
            printSummary(url, bootstrap, served, metrics, started);
            if (exitWhenReady) {
                stopAll();
                return 0;
            }
            return superviseUntilStopped();
        } catch (Exception e) {
            if (!stopping) {
                System.err.println("kinfer up failed: " + e.getMessage());
            }
            stopAll();
            return 1;
        }
    }

    /**
     * Creates the topics before several workers start (they would race to), with the settings the workers get:
     * the same Kafka client settings (security included), names, partitions and replication factor, and none
     * when {@code topics.create=false}. Returns the models served ({@code *} expanded).
     */
    private List<String> createTopics(String bootstrap) {
        Map<String, String> flags = new LinkedHashMap<>();
        flags.put(KafkaClientProperties.BOOTSTRAP_SERVERS, bootstrap);
        flags.put(WorkerConfig.MODELS, models);
        flags.put(WorkerConfig.TOPICS_PARTITIONS, Integer.toString(partitions));
        if (repository != null) {
            flags.put(WorkerConfig.MODEL_REPOSITORY, repository.toAbsolutePath().toString());
        }
        flags.putAll(settings);
        WorkerConfig config = new WorkerConfig(ConfigLoader.load(configFile, flags));
        List<String> served = InferenceWorker.resolveModels(config, config.modelRepository());
        if (served.isEmpty()) {
            throw new IllegalArgumentException("no models to serve: " + models + " in " + config.modelRepository()
                    .directory().map(Path::toString).orElse("the built-in models"));
        }
        if (config.getBoolean(WorkerConfig.TOPICS_CREATE)) {
            try (Admin admin = Admin.create(config.adminProperties())) {
                InferenceWorker.createTopics(admin, config, served);
            }
        }
        return served;
    }

    /** Waits until the gateway is ready and every model is served by a live worker. */
    private void awaitReady(String url, List<String> served, long deadline) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        List<String> paths = new ArrayList<>(List.of("/v2/health/ready"));
        for (String model : served) {
            paths.add("/v2/models/" + model + "/ready");
        }
        for (String path : paths) {
            while (true) {
                checkChildrenAlive();
                try {
                    HttpResponse<Void> response = http.send(HttpRequest.newBuilder(URI.create(url + path))
                            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding());
                    if (response.statusCode() == 200) {
                        break;
                    }
                } catch (IOException e) {
                    // not listening yet
                }
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException(url + path + " did not answer 200 within " + readyTimeoutSeconds + " s");
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
    }

    private void printSummary(String url, String bootstrap, List<String> served, List<String> metrics, long started) {
        PrintStream out = System.out;
        String firstModel = served.get(0);
        out.printf("%nkinfer is up (%.1f s)%n", (System.nanoTime() - started) / 1e9);
        out.println("  gateway          " + url);
        out.println("  kafka bootstrap  " + bootstrap + (kafka == null ? " (local broker, data in "
                + dataDir.resolve("kafka") + ")" : ""));
        out.println("  workers          " + workers + " serving " + String.join(",", served));
        out.println("  metrics          " + url + "/metrics (gateway)");
        metrics.forEach(m -> out.println("                   " + m));
        out.println("  try              curl -s " + url + "/predict -d '{\"text\":\"I love this product\"}'");
        out.println("                   curl -s " + url + "/v2/models/" + firstModel);
        out.println("  Ctrl-C stops everything.");
        out.flush();
    }

    /** Returns when stopped by a signal (0) or when a process died on its own (1). */
    private int superviseUntilStopped() throws InterruptedException {
        CompletableFuture<?>[] exits = children.stream().map(c -> c.process.onExit()).toArray(CompletableFuture[]::new);
        CompletableFuture.anyOf(exits).join();
        if (stopping) {
            return 0;
        }
        for (Child child : children) {
            if (!child.process.isAlive()) {
                System.err.println("kinfer up: " + child.name + " exited with code " + child.process.exitValue()
                        + "; stopping everything");
            }
        }
        stopAll();
        return 1;
    }

    private void checkChildrenAlive() {
        for (Child child : children) {
            if (!child.process.isAlive()) {
                throw new IllegalStateException(child.name + " exited with code " + child.process.exitValue()
                        + " during start-up (see its output above)");
            }
        }
    }

    /** Gateway first (no new work), then the workers together (each drains and commits), then the broker. */
    private synchronized void stopAll() {
        stopping = true;
        if (children.isEmpty()) {
            return;
        }
        if (children.stream().anyMatch(c -> c.recordsClasses)) {
            System.out.println("kinfer: stopping; this first run also saves each process's loaded classes for a "
                    + "faster next start (a few seconds)");
        }
        stop(children.stream().filter(c -> c.name.equals("gateway")).toList(), 15);
        stop(children.stream().filter(c -> c.name.startsWith("worker")).toList(), 45);
        stop(children.stream().filter(c -> c.name.equals("broker")).toList(), 30);
        children.clear();
        System.out.println("kinfer: stopped");
    }

    private void stop(List<Child> group, int seconds) {
        // ProcessHandle.destroy, not Process.destroy: the latter also closes the pipes, losing the child's last
        // lines (and its writes then fail).
        group.forEach(child -> child.process.toHandle().destroy());
        for (Child child : group) {
            boolean clean = child.awaitExit(seconds);
            if (clean) {
                System.out.println("kinfer: " + child.name + " stopped");
            }
            if (child.recordsClasses) {
                // A child that failed to start (a port taken) wrote a recording of its failure: not kept.
                int code = clean ? child.process.exitValue() : -1;
                archives.finish(child.role, clean && child.ready.isDone() && !child.ready.isCompletedExceptionally()
                        && (code == 0 || code == 130 || code == 143));
            }
        }
    }

    /** Starts one process; the first of each role (broker, worker, gateway) may record the role's class archive. */
    private synchronized Child spawn(String name, String role, Path jar, List<String> args, List<String> jvmOptions)
            throws IOException {
        if (stopping) {
            // Ctrl-C during start-up: stopAll (which holds this lock while it stops) has taken its list already.
            throw new IllegalStateException("stopping");
        }
        boolean first = children.stream().noneMatch(c -> c.role.equals(role));
        List<String> sharing = archives == null ? List.of() : archives.options(role, first);
        List<String> command = new ArrayList<>();
        if (new File("/usr/bin/setsid").canExecute()) {
            // Its own session: Ctrl-C reaches only this process, which then stops the children in order.
            command.add("/usr/bin/setsid");
        }
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.addAll(jvmOptions);
        command.addAll(sharing);
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().put(PARENT_PID_ENV, Long.toString(ProcessHandle.current().pid()));
        Child child = new Child(name, role, builder.start(),
                sharing.stream().anyMatch(o -> o.startsWith("-XX:ArchiveClassesAtExit")));
        children.add(child);
        return child;
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            for (Path path : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    static Path selfJar() throws Exception {
        Path location = Path.of(UpCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (!Files.isRegularFile(location)) {
            throw new IllegalStateException("kinfer up runs from kinfer.jar (build it with ./mvnw package, or use ./kinfer)");
        }
        return location;
    }

    /** A child process whose output is echoed with its name and watched for its ready line. */
    private static final class Child {
        final String name;
        final String role;
        final Process process;
        final boolean recordsClasses;
        final CompletableFuture<String> ready = new CompletableFuture<>();
        private final List<Thread> pumps = new ArrayList<>();
        private volatile String marker;

        Child(String name, String role, Process process, boolean recordsClasses) {
            this.name = name;
            this.role = role;
            this.process = process;
            this.recordsClasses = recordsClasses;
            pumps.add(pump(process.getInputStream(), System.out));
            pumps.add(pump(process.getErrorStream(), System.err));
        }

        String awaitMarker(String prefix, long deadlineNanos) throws Exception {
            marker = prefix;
            long wait = deadlineNanos - System.nanoTime();
            try {
                return CompletableFuture.anyOf(ready, process.onExit())
                        .get(Math.max(1, wait), TimeUnit.NANOSECONDS) instanceof String line ? line
                        : failExited();
            } catch (TimeoutException e) {
                throw new TimeoutException(name + " was not ready in time");
            }
        }

        private String failExited() {
            throw new IllegalStateException(name + " exited with code " + process.exitValue()
                    + " during start-up (see its output above)");
        }

        /** Waits for the process to exit, killing it after {@code seconds}; true if it stopped by itself. */
        boolean awaitExit(int seconds) {
            boolean clean = true;
            try {
                if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
                    clean = false;
                    System.err.println("kinfer: " + name + " did not stop within " + seconds + " s; killing it");
                    process.toHandle().destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
                for (Thread pump : pumps) {
                    pump.join(2_000); // echo its last lines before this process exits
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                clean = false;
            }
            return clean;
        }

        private Thread pump(InputStream stream, PrintStream target) {
            Thread thread = new Thread(() -> {
                try (BufferedReader reader = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = reader.readLine()) != null) {
                        String expected = marker;
                        if (!ready.isDone() && expected == null && line.contains("_READY ")) {
                            // A ready line before anyone asks: remember it.
                            ready.complete(line.substring(line.indexOf(' ') + 1));
                        } else if (!ready.isDone() && expected != null && line.startsWith(expected)) {
                            ready.complete(line.substring(expected.length()));
                        }
                        target.println("[" + name + "] " + line);
                    }
                } catch (IOException e) {
                    // the process is gone
                }
            }, "kinfer-up-" + name);
            thread.setDaemon(true);
            thread.start();
            return thread;
        }
    }
}
