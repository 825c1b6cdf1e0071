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
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.kinfer.config.ConfigLoader;
import io.kinfer.config.ConfigOptions;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.gateway.GatewayCommand;
import io.kinfer.gateway.GatewayConfig;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerCommand;
import io.kinfer.worker.WorkerConfig;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;

/**
 * {@code kinfer up}: the whole pipeline on this machine. Starts a real Kafka broker as its own process (unless
 * {@code --kafka} names a cluster), creates the topics, starts the workers and the gateway as their own
 * processes, waits until the gateway reports ready and every model is served, prints where everything is, and on
 * Ctrl-C stops the gateway, then the workers (which drain and commit), then the broker.
 */
@Command(name = "up", mixinStandardHelpOptions = true, modelTransformer = UpCommand.SharedOptionsAsUpUsesThem.class,
        description = {"Runs the whole pipeline locally: a Kafka broker (KRaft), --workers worker processes and the "
                + "gateway, each its own process. Ctrl-C stops everything in order.",
                "Settings as for every part: the --config file, then KINFER_* variables, then the flags below and "
                        + "--set, each winning over the one before; the workers and the gateway get all of them."})
public final class UpCommand implements Callable<Integer> {

    /** Set in each child so it exits when this process dies without stopping it. */
    static final String PARENT_PID_ENV = "KINFER_PARENT_PID";
    /** What {@code kinfer broker} prints once it serves (its classes are not on this classpath). */
    static final String BROKER_READY = "KAFKA_READY ";

    /** The resolved settings, once call() has them: how long stopping waits for each part. */
    private volatile Launch launched;

    @Option(names = {"-w", "--workers"}, defaultValue = "2", description = "Worker processes. Default: ${DEFAULT-VALUE}.")
    int workers;

    @Option(names = {"-p", "--port"}, description = "Gateway port (gateway.port; default: the settings', else 8080).")
    Integer port;

    @Option(names = "--kafka-port", defaultValue = "9092",
            description = "Port of the local broker (its controller uses the next one; 0: any free ports). Default: ${DEFAULT-VALUE}.")
    int kafkaPort;

    /** --config, --set and --kafka, as every command has them (described here as up uses them). */
    @Mixin
    ConfigOptions configOptions;

    @Option(names = "--fresh", description = "Delete the local broker's data and the gateway's job state first "
            + "(default: reuse them).")
    boolean fresh;

    @Option(names = "--data-dir", defaultValue = ".kinfer", description = "Where the local broker keeps its data "
            + "(under kafka/). Default: ${DEFAULT-VALUE}.")
    Path dataDir;

    @Option(names = {"-m", "--models"}, description = "Models every worker serves (worker.models; default: the "
            + "settings', else sentiment,minilm; * for all).")
    String models;

    @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR", description = "Model repository directory "
            + "(model.repository).")
    Path repository;

    @Option(names = "--partitions", description = "Partitions per request topic (topics.partitions; default: the "
            + "settings', else 12): the most useful workers per model in consumer-group mode.")
    Integer partitions;

    @Option(names = "--metrics-base-port", description = "Worker i serves /metrics on this port + i (default: the "
            + "settings' metrics.port, else 9400; 0 or -1 there: every worker on any free port, or none).")
    Integer metricsBasePort;

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

    /**
     * What up starts, resolved from the merged settings (file, then environment, then up's flags) before anything
     * starts. The settings the user gave up on its command line (named options and --set) reach the children in
     * {@code childEnvironment} (so they win over the file and the inherited variables there as here), or, where a
     * key has no exact variable, as {@code childSetFlags}.
     */
    record Launch(ConfigLoader.Loaded loaded, String externalBootstrap, WorkerConfig worker, GatewayConfig gateway,
                  List<String> models, Map<String, String> childEnvironment, List<String> childSetFlags) {

        int partitions() {
            return worker.getInt(WorkerConfig.TOPICS_PARTITIONS);
        }

        /**
         * The workers' environment: the children's, less the gateway's port (up's --port), which a worker does not
         * read and listed in its start-up line as an unknown key.
         */
        Map<String, String> workerEnvironment() {
            Map<String, String> environment = new LinkedHashMap<>(childEnvironment);
            environment.remove(ConfigLoader.keyToEnv(GatewayConfig.PORT));
            return environment;
        }

        /** The first API key, sent with up's readiness checks; null when authentication is off. */
        String apiKey() {
            List<String> keys = gateway.apiKeys();
            return keys.isEmpty() ? null : keys.get(0);
        }

        /**
         * The body of the /predict up suggests trying. A bare one goes to gateway.default.model: where that is not
         * served, it names the first model that is (else it would answer 404 unknown_model).
         */
        String predictExample() {
            String model = models.contains(gateway.getString(GatewayConfig.DEFAULT_MODEL)) ? ""
                    : "\"model\":\"" + models.get(0) + "\",";
            return "{" + model + "\"text\":\"I love this product\"}";
        }

        /** kafka.bootstrap.servers from the file or the environment, which up's own broker replaces; or null. */
        String ignoredBootstrap() {
            if (externalBootstrap != null || !loaded.settings().containsKey(KafkaClientProperties.BOOTSTRAP_SERVERS)) {
                return null;
            }
            return loaded.settings().get(KafkaClientProperties.BOOTSTRAP_SERVERS) + " (from "
                    + loaded.sourceOf(KafkaClientProperties.BOOTSTRAP_SERVERS).orElse("the settings") + ")";
        }
    }

    /**
     * Resolves every setting up and its children use; a bad one fails here, before anything starts. From here on, a
     * failure names where a value came from (the ConfigOptions remember the merged settings).
     */
    Launch resolve(Map<String, String> environment) {
        if (workers < 1) {
            // Else the broker and gateway start, and the readiness check waits its whole timeout for a worker.
            throw new IllegalArgumentException("--workers " + workers + ": up runs at least one worker");
        }
        if (readyTimeoutSeconds < 1) {
            // Else the broker started and was then "not ready in time" at once.
            throw new IllegalArgumentException("--ready-timeout " + readyTimeoutSeconds + ": at least 1 second");
        }
        Map<String, String> named = new LinkedHashMap<>();
        Map<String, String> options = new LinkedHashMap<>();
        ConfigOptions.putFlag(named, options, WorkerConfig.MODELS, "--models", models);
        ConfigOptions.putFlag(named, options, WorkerConfig.MODEL_REPOSITORY, "--model-repository",
                repository == null ? null : repository.toAbsolutePath());
        ConfigOptions.putFlag(named, options, WorkerConfig.TOPICS_PARTITIONS, "--partitions", partitions);
        ConfigOptions.putFlag(named, options, GatewayConfig.PORT, "--port", port);
        // What the user gave up on its command line (named options, --kafka, --set): only that is handed on.
        ConfigLoader.Loaded given = configOptions.commandLine(named, options);
        ConfigLoader.Loaded loaded = configOptions.load(given, environment);
        String external = given.settings().get(KafkaClientProperties.BOOTSTRAP_SERVERS);
        WorkerConfig worker = new WorkerConfig(loaded.settings());
        GatewayConfig gateway = new GatewayConfig(loaded.settings());
        gateway.apiKeys(); // a key file that cannot be read fails now, not in the gateway after the rest started
        List<String> served = InferenceWorker.resolveModels(worker, worker.modelRepository());
        if (served.isEmpty()) {
            throw new IllegalArgumentException("no models to serve: " + worker.getList(WorkerConfig.MODELS) + " in "
                    + worker.modelRepository().directory().map(Path::toString).orElse("the built-in models"));
        }
        // Up's flags reach the children in their environment (KINFER_*, which beat the file and the inherited
        // variables, as flags do here), not on their command lines, which anyone on the machine can read (ps).
        // The bootstrap servers are the exception: every child gets up's resolved address as --kafka.
        Map<String, String> environmentOut = new LinkedHashMap<>();
        List<String> setFlags = new ArrayList<>();
        given.settings().forEach((key, value) -> {
            if (key.equals(KafkaClientProperties.BOOTSTRAP_SERVERS)) {
                return;
            }
            Optional<String> variable = ConfigLoader.environmentVariable(key, value);
            if (variable.isPresent()) {
                environmentOut.put(variable.get(), value);
            } else if (Redaction.isSecret(key)) {
                throw new IllegalArgumentException(given.sourceOf(key).orElse(key) + ": a secret whose key has no "
                        + "environment variable (upper case, '_' or '-' in it) would be on every child's command line; "
                        + "put it in the --config file instead");
            } else {
                setFlags.addAll(List.of("--set", key + "=" + value));
            }
        });
        return new Launch(loaded, external, worker, gateway, served, environmentOut, setFlags);
    }

    /** The command line of worker {@code i} (from 1). */
    List<String> workerArgs(Launch launch, int i, String bootstrap) {
        List<String> args = new ArrayList<>(List.of("worker", "--kafka", bootstrap, "--id", workerId(launch, i),
                "--metrics-port", Integer.toString(metricsPort(launch, i))));
        args.addAll(sharedArgs(launch));
        return args;
    }

    /**
     * The gateway's command line. The jobs' local state goes next to the broker's data (Kafka Streams' default, the
     * system's temp directory, is shared by every checkout and survives --fresh, which then served jobs the new
     * broker never had); a directory the user chose (file, environment or --set) is theirs.
     */
    List<String> gatewayArgs(Launch launch, String bootstrap) {
        List<String> args = new ArrayList<>(List.of("gateway", "--kafka", bootstrap));
        if (!launch.loaded().settings().containsKey(JobsConfig.STATE_DIR)) {
            args.addAll(List.of("--set", JobsConfig.STATE_DIR + "=" + jobStateDir()));
        }
        args.addAll(sharedArgs(launch));
        return args;
    }

    private Path jobStateDir() {
        return dataDir.resolve("jobs").toAbsolutePath();
    }

    private List<String> sharedArgs(Launch launch) {
        List<String> args = new ArrayList<>();
        configOptions.file().ifPresent(file -> args.addAll(List.of("--config", file.toAbsolutePath().toString())));
        args.addAll(launch.childSetFlags());
        return args;
    }

    /** worker-i, or the configured worker.id with -i appended when there are several. */
    private String workerId(Launch launch, int i) {
        String configured = launch.worker().getString(WorkerConfig.WORKER_ID).trim();
        if (configured.isEmpty()) {
            return "worker-" + i;
        }
        return workers == 1 ? configured : configured + "-" + i;
    }

    /** --metrics-base-port (else metrics.port) + i; 0 (any free port) and -1 (none) apply to every worker as they are. */
    int metricsPort(Launch launch, int i) {
        int base = metricsBase(launch);
        return base <= 0 ? base : base + i;
    }

    /** --metrics-base-port, else the settings' metrics.port. */
    private int metricsBase(Launch launch) {
        return metricsBasePort != null ? metricsBasePort : launch.worker().getInt(WorkerConfig.METRICS_PORT);
    }

    @Override
    public Integer call() throws Exception {
        long started = System.nanoTime();
        Launch launch = resolve(System.getenv());
        launched = launch;
        requireDistinct(launch);
        LocalPorts.requireFree(ports(launch));
        if (launch.ignoredBootstrap() != null) {
            System.out.println("kinfer up: kafka.bootstrap.servers=" + launch.ignoredBootstrap() + " is not used: up "
                    + "runs its own broker (--kafka HOST:PORT uses a running cluster instead)");
        }
        Path jar = selfJar();
        archives = classDataSharing
                ? new ClassDataArchives(classDataDir != null ? classDataDir : dataDir.resolve("cds"), jar) : null;
        Thread hook = new Thread(this::stopAll, "kinfer-up-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(readyTimeoutSeconds);
        try {
            String bootstrap = launch.externalBootstrap();
            if (bootstrap == null) {
                List<String> args = new ArrayList<>(List.of("broker", "--port", Integer.toString(kafkaPort),
                        "--controller-port", Integer.toString(kafkaPort == 0 ? 0 : kafkaPort + 1),
                        "--data-dir", dataDir.resolve("kafka").toString(),
                        "-p", "num.partitions=" + launch.partitions()));
                if (fresh) {
                    args.add("--fresh");
                }
                Child broker = spawn("broker", "broker", jar, args, List.of("-Xmx768m"), Map.of());
                bootstrap = broker.awaitMarker(BROKER_READY, deadline).trim();
            }
            createTopics(launch, bootstrap);
            List<Child> workerProcesses = new ArrayList<>();
            for (int i = 1; i <= workers; i++) {
                workerProcesses.add(spawn("worker-" + i, "worker", jar, workerArgs(launch, i, bootstrap), List.of(),
                        launch.workerEnvironment()));
            }
            if (fresh && !launch.loaded().settings().containsKey(JobsConfig.STATE_DIR)) {
                deleteRecursively(jobStateDir());
            }
            Child gateway = spawn("gateway", "gateway", jar, gatewayArgs(launch, bootstrap), List.of(),
                    launch.childEnvironment());

            List<String> metrics = new ArrayList<>();
            for (Child worker : workerProcesses) {
                String[] ready = worker.awaitMarker(WorkerCommand.READY_MARKER, deadline).trim().split(" ");
                metrics.add(ready[ready.length - 1] + " (" + worker.name + ")");
            }
            String url = gateway.awaitMarker(GatewayCommand.READY_MARKER, deadline).trim();
            awaitReady(url, launch.models(), launch.apiKey(), deadline);
            printSummary(launch, url, bootstrap, metrics, started);
            if (exitWhenReady) {
                stopAll();
                return 0;
            }
            return superviseUntilStopped();
        } catch (Exception e) {
            if (!stopping) {
                ConfigLoader.Loaded settings = launch.loaded();
                System.err.println("kinfer up: " + CliErrors.describe(e, "up", settings::sourceOf,
                        key -> Optional.ofNullable(settings.settings().get(key))));
            }
            stopAll();
            return 1;
        }
    }

    /** A port one of up's processes binds, and whose it is, as {@link #requireDistinct} names it. */
    record OwnedPort(LocalPorts.Port port, String owner) {
    }

    /**
     * The ports up's processes bind, each with the line that names the flag moving it: checked before anything
     * starts, so a port taken (a broker left running, another up) fails in one line instead of a child's stack trace.
     */
    List<LocalPorts.Port> ports(Launch launch) {
        return ownedPorts(launch).stream().map(OwnedPort::port).toList();
    }

    private List<OwnedPort> ownedPorts(Launch launch) {
        List<OwnedPort> ports = new ArrayList<>();
        if (launch.externalBootstrap() == null && kafkaPort > 0) {
            String remedy = "choose another with --kafka-port PORT (it uses PORT and PORT + 1), or use a running "
                    + "cluster with --kafka HOST:PORT";
            ports.add(new OwnedPort(new LocalPorts.Port("127.0.0.1", kafkaPort,
                    LocalPorts.inUse(kafkaPort, "the local Kafka broker's", remedy)),
                    "the Kafka broker's (--kafka-port)"));
            ports.add(new OwnedPort(new LocalPorts.Port("127.0.0.1", kafkaPort + 1,
                    LocalPorts.inUse(kafkaPort + 1, "the local Kafka broker's controller", remedy)),
                    "the broker's controller (--kafka-port + 1)"));
        }
        int gatewayPort = launch.gateway().getInt(GatewayConfig.PORT);
        ports.add(new OwnedPort(new LocalPorts.Port(launch.gateway().getString(GatewayConfig.HOST), gatewayPort,
                LocalPorts.inUse(gatewayPort, "the gateway's, " + GatewayConfig.PORT + launch.loaded()
                        .sourceOf(GatewayConfig.PORT).map(source -> " from " + source).orElse(""),
                        "choose another with --port PORT")), "the gateway's (--port)"));
        for (int i = 1; i <= workers; i++) {
            int metricsPort = metricsPort(launch, i);
            ports.add(new OwnedPort(new LocalPorts.Port(launch.worker().getString(WorkerConfig.METRICS_HOST),
                    metricsPort, LocalPorts.inUse(metricsPort, "worker-" + i + "'s metrics", "choose other ports with "
                            + "--metrics-base-port PORT (worker i uses PORT + i)")),
                    "worker-" + i + "'s metrics (--metrics-base-port + " + i + ")"));
        }
        return ports;
    }

    /**
     * Fails when two of up's own processes would bind one port: each is free on its own, so the check above passes,
     * and a child then fails on a port another child holds, naming a flag of its own rather than up's.
     */
    void requireDistinct(Launch launch) {
        // Ranges first, naming up's flags: a worker given --metrics-port -5 or 65536 failed after the gateway had
        // started, naming a flag of its own, and a broker on --kafka-port -3 died with Kafka's stack trace.
        if (launch.externalBootstrap() == null && (kafkaPort < 0 || kafkaPort > 65_534)) {
            throw new IllegalStateException("--kafka-port " + kafkaPort + " is out of range: 1 to 65534 (the broker "
                    + "uses PORT and PORT + 1), or 0 for any free ports");
        }
        int base = metricsBase(launch);
        if (base < -1 || base > 65_535 - workers) {
            throw new IllegalStateException((metricsBasePort != null ? "--metrics-base-port " : "metrics.port ") + base
                    + " is out of range: worker i serves on PORT + i, so 1 to " + (65_535 - workers) + " for "
                    + workers + " worker(s); 0: any free port, -1: no metrics");
        }
        Map<Integer, String> owners = new HashMap<>();
        for (OwnedPort owned : ownedPorts(launch)) {
            int port = owned.port().number();
            String other = port > 0 ? owners.putIfAbsent(port, owned.owner()) : null;
            if (other != null) {
                throw new IllegalStateException("port " + port + " would be both " + other + " and " + owned.owner()
                        + "; choose ports that do not overlap");
            }
        }
    }

    /**
     * Creates the topics before several workers start (they would race to), with the settings the workers get:
     * the same Kafka client settings (security included), names, partitions and replication factor, and none
     * when {@code topics.create=false}.
     */
    private void createTopics(Launch launch, String bootstrap) {
        Map<String, String> merged = new LinkedHashMap<>(launch.loaded().settings());
        merged.put(KafkaClientProperties.BOOTSTRAP_SERVERS, bootstrap);
        WorkerConfig config = new WorkerConfig(merged);
        if (config.getBoolean(WorkerConfig.TOPICS_CREATE)) {
            try (Admin admin = Admin.create(config.adminProperties())) {
                InferenceWorker.createTopics(admin, config, launch.models());
            }
        }
    }

    /**
     * Waits until the gateway is ready and every model is served by a live worker. With API keys configured the
     * model paths need one (only the ops paths are open), so every check sends the first.
     */
    void awaitReady(String url, List<String> served, String apiKey, long deadline) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        List<String> paths = new ArrayList<>(List.of("/v2/health/ready"));
        for (String model : served) {
            paths.add("/v2/models/" + model + "/ready");
        }
        for (String path : paths) {
            String lastSeen = "no answer";
            while (true) {
                checkChildrenAlive();
                HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(2));
                if (apiKey != null) {
                    request.header("Authorization", "Bearer " + apiKey);
                }
                try {
                    HttpResponse<Void> response = http.send(request.build(), HttpResponse.BodyHandlers.discarding());
                    if (response.statusCode() == 200) {
                        break;
                    }
                    lastSeen = "it answered " + response.statusCode()
                            + (response.statusCode() == 401 ? (apiKey == null ? ", and no API key is configured"
                            : ", refusing the first of gateway.api.keys") : "");
                } catch (IOException e) {
                    lastSeen = "the last try failed: " + (e.getMessage() != null ? e.getMessage()
                            : e.getClass().getSimpleName());
                }
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException(url + path + " did not answer 200 within " + readyTimeoutSeconds
                            + " s (" + lastSeen + ")");
                }
                TimeUnit.MILLISECONDS.sleep(100);
            }
        }
    }

    private void printSummary(Launch launch, String url, String bootstrap, List<String> metrics, long started) {
        PrintStream out = System.out;
        String firstModel = launch.models().get(0);
        out.printf("%nkinfer is up (%.1f s)%n", (System.nanoTime() - started) / 1e9);
        out.println("  gateway          " + url);
        out.println("  kafka bootstrap  " + bootstrap + (launch.externalBootstrap() == null ? " (local broker, data in "
                + dataDir.resolve("kafka") + ")" : ""));
        if (launch.ignoredBootstrap() != null) {
            out.println("                   not " + launch.ignoredBootstrap() + ": up runs its own broker");
        }
        out.println("  workers          " + workers + " serving " + String.join(",", launch.models())
                + " (" + launch.partitions() + " partitions per request topic)");
        out.println("  metrics          " + url + "/metrics (gateway)");
        metrics.forEach(m -> out.println("                   " + m));
        String key = launch.apiKey() == null ? "" : " -H 'Authorization: Bearer <key>'";
        out.println("  try              curl -s" + key + " " + url + "/predict -d '" + launch.predictExample() + "'");
        out.println("                   curl -s" + key + " " + url + "/v2/models/" + firstModel);
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
        // Each part gets its own drain setting and a margin (15 and 45 s at the defaults) before it is killed: a
        // fixed wait cut a longer shutdown.timeout.ms short, and the work it would have finished was done twice.
        Launch settings = launched;
        stop(children.stream().filter(c -> c.name.equals("gateway")).toList(), settings == null ? 15
                : waitSeconds(settings.gateway().getLong(GatewayConfig.SHUTDOWN_TIMEOUT_MS), 10));
        stop(children.stream().filter(c -> c.name.startsWith("worker")).toList(), settings == null ? 45
                : waitSeconds(settings.worker().getLong(WorkerConfig.SHUTDOWN_TIMEOUT_MS), 15));
        stop(children.stream().filter(c -> c.name.equals("broker")).toList(), 30);
        children.clear();
        System.out.println("kinfer: stopped");
    }

    /** A drain setting in ms, as whole seconds, plus a margin for the process to commit and close. */
    static int waitSeconds(long drainMs, int marginSeconds) {
        return (int) Math.min(Integer.MAX_VALUE / 2, (drainMs + 999) / 1000) + marginSeconds;
    }

    private void stop(List<Child> group, int seconds) {
        // ProcessHandle.destroy, not Process.destroy: the latter also closes the pipes, losing the child's last
        // lines (and its writes then fail).
        // One that had exited already (reported with its code by superviseUntilStopped) is not "stopped" here.
        List<Child> running = group.stream().filter(child -> child.process.isAlive()).toList();
        group.forEach(child -> child.process.toHandle().destroy());
        for (Child child : group) {
            boolean clean = child.awaitExit(seconds);
            if (clean && running.contains(child)) {
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
    private synchronized Child spawn(String name, String role, Path jar, List<String> args, List<String> jvmOptions,
                                     Map<String, String> environment) throws IOException {
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
        // Up's temp directory, where ONNX Runtime extracts its native libraries (22 MB a worker, left behind by a
        // killed one): -Djava.io.tmpdir given to up (KINFER_JAVA_OPTS, a test's target/tmp) reaches its children.
        // Unset, this is the default every child would have anyway.
        command.add("-Djava.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
        command.addAll(jvmOptions);
        command.addAll(sharing);
        command.add("-jar");
        command.add(jar.toString());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().putAll(environment);
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

    /**
     * The options every command shares, described as up uses them: its --kafka means "no local broker", and what
     * it is given reaches every worker and the gateway.
     */
    static final class SharedOptionsAsUpUsesThem implements CommandLine.IModelTransformer {

        @Override
        public CommandSpec transform(CommandSpec spec) {
            describe(spec, "--kafka", "Use this Kafka cluster instead of starting a local broker (as --set "
                    + "kafka.bootstrap.servers=... does; a config file's or KINFER_KAFKA_BOOTSTRAP_SERVERS' address is "
                    + "not used: up runs its own broker then).");
            describe(spec, "--set", "A setting for every worker and the gateway (repeatable), e.g. --set "
                    + "batch.max.size=16; handed to them in their environment where the key has a variable, else "
                    + "as --set (a secret without one is refused: put it in the --config file).");
            describe(spec, "--config", "Properties file with settings for every worker and the gateway (also "
                    + "KINFER_CONFIG_FILE); KINFER_* variables and the flags win over it.");
            return spec;
        }

        private static void describe(CommandSpec spec, String name, String description) {
            OptionSpec shared = spec.findOption(name);
            spec.remove(shared);
            spec.addOption(shared.toBuilder().description(description).build());
        }
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
