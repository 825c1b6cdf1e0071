package io.kinfer.perf;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

import io.kinfer.client.ClientConfig;
import io.kinfer.config.ApiKeys;
import io.kinfer.config.ConfigOptions;
import io.kinfer.config.LocalUrl;
import io.kinfer.worker.model.OnnxSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine;

/**
 * {@code kinfer perf}: load generation and measurement against a running pipeline, the raw model's ceiling in the
 * same run, reports (table, JSON, HTML), before/after comparison, and JFR profiling of the pipeline's processes.
 */
@Command(name = "perf", mixinStandardHelpOptions = true,
        description = {"Measures throughput and latency of the pipeline (over HTTP or straight through Kafka), the "
                + "raw model's ceiling, and compares runs.",
                "Start the pipeline first (./kinfer up), then e.g.: kinfer perf scenarios --ceiling --json r.json"},
        subcommands = {PerfCommand.Run.class, PerfCommand.Scenarios.class, PerfCommand.CeilingCommand.class,
                PerfCommand.Compare.class})
public final class PerfCommand implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Durations as 500ms, 30s, 2m or an ISO-8601 duration. */
    static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
        @Override
        public Duration convert(String value) {
            String v = value.trim().toLowerCase(Locale.ROOT);
            if (v.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
            }
            if (v.endsWith("s")) {
                return Duration.ofMillis(Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 1000));
            }
            if (v.endsWith("m")) {
                return Duration.ofMillis(Math.round(Double.parseDouble(v.substring(0, v.length() - 1)) * 60_000));
            }
            return Duration.parse(value);
        }
    }

    /** The gateway's settings perf reads (the gateway module is not perf's dependency): its address and API keys. */
    static final String GATEWAY_HOST = "gateway.host";
    static final String GATEWAY_PORT = "gateway.port";
    static final String GATEWAY_API_KEYS = "gateway.api.keys";
    static final String GATEWAY_API_KEYS_FILE = "gateway.api.keys.file";

    /** What every load command shares: where to send, what, for how long, and what to write. */
    static final class LoadOptions {
        @Option(names = "--target", defaultValue = "http", description = "http (simple API), oip (Open Inference "
                + "Protocol) or kafka (the Java client, no HTTP). Default: ${DEFAULT-VALUE}.")
        String target;

        @Option(names = "--url", description = "Gateway URL. Default: http://<gateway.host>:<gateway.port> of the "
                + "settings: 127.0.0.1 when gateway.host is unset or binds every address (0.0.0.0, ::), port 8080 "
                + "when gateway.port is unset.")
        String url;

        @Option(names = "--api-key", paramLabel = "KEY", description = "API key for --target http and oip, sent as "
                + "Authorization: Bearer KEY. Default: the first of gateway.api.keys (or gateway.api.keys.file) of "
                + "the settings, which keeps it off the command line.")
        String apiKey;

        /** --config, --set and --kafka: the settings of --target kafka's client, and the gateway's port and keys. */
        @Mixin
        ConfigOptions config;

        @Option(names = {"-m", "--model"}, defaultValue = "sentiment", description = "Model. Default: ${DEFAULT-VALUE}.")
        String model;

        @Option(names = {"-d", "--duration"}, defaultValue = "20s", converter = DurationConverter.class,
                description = "Measured time per load. Default: ${DEFAULT-VALUE}.")
        Duration duration;

        @Option(names = "--warmup", defaultValue = "5s", converter = DurationConverter.class,
                description = "Unmeasured load first. Default: ${DEFAULT-VALUE}.")
        Duration warmup;

        @Option(names = "--timeout", defaultValue = "30s", converter = DurationConverter.class,
                description = "Per-call timeout. Default: ${DEFAULT-VALUE}.")
        Duration timeout;

        @Option(names = "--texts", paramLabel = "FILE", description = "One input text per line (default: a built-in "
                + "corpus of reviews from 1 to 60 words).")
        Path texts;

        @Option(names = "--repeat-texts", description = "Send the corpus texts as they are, so repeats are answered "
                + "from the workers' result cache (default: each text made unique, so the model is measured).")
        boolean repeatTexts;

        @Option(names = "--ceiling", description = "Also measure the raw model in this process (same model and "
                + "thread settings, no Kafka, no HTTP) and report each load's ratio to it.")
        boolean ceiling;

        @Option(names = "--threads", defaultValue = "0", description = "ONNX Runtime threads of the ceiling; match "
                + "the workers' onnx.intra.op.threads (0: the processors shared among the instances). Default: ${DEFAULT-VALUE}.")
        int threads;

        @Option(names = "--single-thread-max-tokens", defaultValue = "" + OnnxSettings.DEFAULT_SINGLE_THREAD_MAX_TOKENS,
                description = "Ceiling calls of at most this many padded tokens run on a single-threaded session; "
                        + "match the workers' onnx.single.thread.max.tokens (0: never). Default: ${DEFAULT-VALUE}.")
        int singleThreadMaxTokens;

        @Option(names = "--instances", defaultValue = "1", description = "Batches the ceiling runs at once on its "
                + "one session; match the workers' model.instances (--threads 0 then shares the processors among "
                + "them). Default: ${DEFAULT-VALUE}.")
        int instances;

        @Option(names = "--ceiling-batch", defaultValue = "32", description = "Batch size of the ceiling (the "
                + "workers' batch.max.size). Default: ${DEFAULT-VALUE}.")
        int ceilingBatch;

        @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR", description = "Model repository of the "
                + "ceiling's model (default: the built-ins).")
        Path repository;

        @Option(names = "--json", paramLabel = "FILE", description = "Write every figure as JSON.")
        Path json;

        @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML report with charts.")
        Path html;

        @Option(names = "--profile", description = "Record Java Flight Recorder on the local kinfer workers and "
                + "gateway during the loads; print the hottest methods and keep the .jfr files.")
        boolean profile;

        @Option(names = "--profile-pid", paramLabel = "PID", description = "Profile these processes instead of the "
                + "local kinfer ones (repeatable).")
        List<Long> profilePids = new ArrayList<>();

        @Option(names = "--out", defaultValue = "perf-results", description = "Directory for .jfr files. Default: "
                + "${DEFAULT-VALUE}.")
        Path out;

        Target target() {
            return switch (target) {
                case "http", "oip" -> {
                    Map<String, String> settings = config.load(Map.of());
                    yield new HttpTarget(url != null ? url : defaultUrl(settings), model, "oip".equals(target),
                            timeout, apiKey != null ? apiKey : firstApiKey(settings));
                }
                case "kafka" -> {
                    // --timeout is a named flag: over the file and the environment, under --set, as elsewhere.
                    Map<String, Object> client = new HashMap<>(config.load(Map.of(ClientConfig.REQUEST_TIMEOUT_MS,
                            Long.toString(timeout.toMillis()))));
                    yield new KafkaTarget(client, model, timeout);
                }
                default -> throw new CommandLine.ParameterException(new CommandLine(this),
                        "--target must be http, oip or kafka");
            };
        }

        /** Why the gateway cannot be reached at all, for the HTTP targets (the Kafka client waits for its cluster). */
        Optional<String> unreachable() {
            if (!"http".equals(target) && !"oip".equals(target)) {
                return Optional.empty();
            }
            try (Target probe = target()) {
                return probe.unreachable();
            }
        }

        /** The gateway of the settings on this machine: gateway.host (127.0.0.1 for a wildcard) and gateway.port. */
        static String defaultUrl(Map<String, String> settings) {
            String port = settings.getOrDefault(GATEWAY_PORT, "").trim();
            try {
                return LocalUrl.http(settings.get(GATEWAY_HOST), port.isEmpty() ? 8080 : Integer.parseInt(port));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(GATEWAY_PORT + ": not a port: " + port);
            }
        }

        /** The first key the gateway accepts, from gateway.api.keys or else gateway.api.keys.file; null when none. */
        static String firstApiKey(Map<String, String> settings) {
            List<String> keys = ApiKeys.parse(settings.get(GATEWAY_API_KEYS), settings.get(GATEWAY_API_KEYS_FILE));
            return keys.isEmpty() ? null : keys.get(0);
        }

        Corpus corpus() throws java.io.IOException {
            Corpus corpus = texts == null ? Corpus.builtIn() : Corpus.fromFile(texts);
            return repeatTexts ? corpus : corpus.unique();
        }
    }

    /** Runs loads, optionally the ceiling and profiling, prints and writes the report. */
    static PerfReport execute(LoadOptions options, List<LoadRunner.Plan> plans, String command) throws Exception {
        PrintStream out = System.out;
        // Nothing listening there: said at once, before the ceiling and the loads (which would only count failures).
        Optional<String> unreachable = options.unreachable();
        if (unreachable.isPresent()) {
            throw new IllegalStateException(unreachable.get());
        }
        Corpus corpus = options.corpus();
        PerfReport.CeilingResult ceiling = null;
        if (options.ceiling) {
            System.err.printf("measuring the raw model's ceiling (%s, batch %d, %d threads, %d instances) ...%n",
                    options.model, options.ceilingBatch, options.threads, options.instances);
            ceiling = Ceiling.measure(options.model, options.repository, options.threads,
                    options.singleThreadMaxTokens, options.instances,
                    options.ceilingBatch, corpus, options.duration.dividedBy(2).plusSeconds(1), Duration.ofSeconds(3));
        }
        List<Profiler.Process> profiled = new ArrayList<>();
        if (options.profile) {
            profiled.addAll(options.profilePids.isEmpty() ? Profiler.findLocal()
                    : options.profilePids.stream().map(pid -> new Profiler.Process("pid-" + pid, pid)).toList());
            if (profiled.isEmpty()) {
                System.err.println("--profile: no local kinfer worker or gateway found; use --profile-pid");
            }
            for (Profiler.Process process : profiled) {
                Profiler.start(process);
            }
        }
        List<PerfReport.RunResult> runs = new ArrayList<>();
        try (Target target = options.target()) {
            Progress progress = new Progress(System.err);
            LoadRunner runner = new LoadRunner(target, corpus, progress, options.timeout);
            for (LoadRunner.Plan plan : plans) {
                CpuSampler cpu = new CpuSampler();
                PerfReport.RunResult result = runner.run(plan, cpu);
                progress.done();
                runs.add(withModelAndRatio(result, options.model, ceiling, cpu.coresUsed()));
            }
        }
        List<PerfReport.ProfileResult> profiles = new ArrayList<>();
        if (!profiled.isEmpty()) {
            Files.createDirectories(options.out);
            for (Profiler.Process process : profiled) {
                profiles.add(Profiler.analyze(process.name(), Profiler.stop(process, options.out), 15));
            }
        }
        PerfReport report = new PerfReport("kinfer perf", Instant.now().toString(), environment(command), runs,
                ceiling, profiles.isEmpty() ? null : profiles);
        Tables.print(out, report);
        if (options.json != null) {
            report.write(options.json);
            out.println("JSON: " + options.json);
        }
        if (options.html != null) {
            HtmlReport.write(report, options.html);
            out.println("HTML: " + options.html);
        }
        return report;
    }

    private static PerfReport.RunResult withModelAndRatio(PerfReport.RunResult r, String model,
                                                          PerfReport.CeilingResult ceiling,
                                                          Map<String, Double> cpuCores) {
        Double ratio = ceiling == null || ceiling.itemsPerSecond() == 0 ? null
                : Math.round(r.itemsPerSecond() / ceiling.itemsPerSecond() * 1000) / 1000.0;
        return new PerfReport.RunResult(r.name(), r.target(), r.endpoint(), model, r.mode(), r.users(), r.rate(),
                r.arrivals(), r.batchSize(), r.durationSeconds(), r.requests(), r.items(), r.failures(),
                r.failuresByKind(), r.requestsPerSecond(), r.itemsPerSecond(), r.latency(), r.server(), r.timeline(),
                ratio, cpuCores);
    }

    static PerfReport.Environment environment(String command) {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "unknown";
        }
        return new PerfReport.Environment(host, Runtime.getRuntime().availableProcessors(),
                Runtime.getRuntime().maxMemory() / (1024 * 1024),
                System.getProperty("java.vm.name") + " " + System.getProperty("java.version"),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"), command);
    }

    static String commandLine(CommandLine.Model.CommandSpec spec) {
        List<String> args = spec.commandLine().getParseResult().originalArgs();
        return "kinfer perf " + String.join(" ", args) + " (pid " + ManagementFactory.getRuntimeMXBean().getPid() + ")";
    }

    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "One load (closed loop with --users, open loop with --rate), or a sweep over users or rates.")
    static final class Run implements Callable<Integer> {
        @Mixin
        LoadOptions options;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = {"-u", "--users"}, defaultValue = "10",
                description = "Closed loop: concurrent users, each sending when answered. Default: ${DEFAULT-VALUE}.")
        int users;

        @Option(names = "--rate", description = "Open loop: calls per second (latency from the planned send time).")
        Double rate;

        @Option(names = "--arrivals", defaultValue = "poisson",
                description = "Open-loop arrivals: poisson or constant. Default: ${DEFAULT-VALUE}.")
        String arrivals;

        @Option(names = {"-b", "--batch"}, defaultValue = "1",
                description = "Texts per call (1: /predict; more: /predict_batch). Default: ${DEFAULT-VALUE}.")
        int batch;

        @Option(names = "--sweep-users", split = ",", description = "Closed-loop sweep, e.g. 1,2,4,8,16,32.")
        List<Integer> sweepUsers = new ArrayList<>();

        @Option(names = "--sweep-rates", split = ",", description = "Open-loop sweep, e.g. 10,50,100,200.")
        List<Double> sweepRates = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            List<LoadRunner.Plan> plans = new ArrayList<>();
            boolean poisson = !"constant".equals(arrivals);
            if (!sweepUsers.isEmpty()) {
                sweepUsers.forEach(u -> plans.add(new LoadRunner.Plan("users=" + u, u, 0, poisson, batch,
                        options.warmup, options.duration)));
            } else if (!sweepRates.isEmpty()) {
                sweepRates.forEach(r -> plans.add(new LoadRunner.Plan("rate=" + r, 0, r, poisson, batch,
                        options.warmup, options.duration)));
            } else if (rate != null) {
                plans.add(new LoadRunner.Plan("rate=" + rate, 0, rate, poisson, batch, options.warmup,
                        options.duration));
            } else {
                plans.add(new LoadRunner.Plan("users=" + users, users, 0, poisson, batch, options.warmup,
                        options.duration));
            }
            return exitCode(execute(options, plans, commandLine(spec)));
        }
    }

    @Command(name = "scenarios", mixinStandardHelpOptions = true,
            description = {"The seed's load tests in one command: single-user, ten-users, batch-5, batch-25, "
                    + "batch-50 and stress (100 users), as a table in the shape of its impact table."})
    static final class Scenarios implements Callable<Integer> {
        @Mixin
        LoadOptions options;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--only", split = ",", description = "Run only these scenarios.")
        List<String> only = new ArrayList<>();

        @Option(names = "--stress-users", defaultValue = "100", description = "Users of the stress scenario. "
                + "Default: ${DEFAULT-VALUE}.")
        int stressUsers;

        @Override
        public Integer call() throws Exception {
            Map<String, int[]> scenarios = new LinkedHashMap<>();
            scenarios.put("single-user", new int[] {1, 1});
            scenarios.put("ten-users", new int[] {10, 1});
            scenarios.put("batch-5", new int[] {1, 5});
            scenarios.put("batch-25", new int[] {1, 25});
            scenarios.put("batch-50", new int[] {1, 50});
            scenarios.put("stress", new int[] {stressUsers, 1});
            List<LoadRunner.Plan> plans = new ArrayList<>();
            scenarios.forEach((name, shape) -> {
                if (only.isEmpty() || only.contains(name)) {
                    plans.add(new LoadRunner.Plan(name, shape[0], 0, true, shape[1], options.warmup, options.duration));
                }
            });
            return exitCode(execute(options, plans, commandLine(spec)));
        }
    }

    /** 1 when a load got no answer at all (nothing sent, or every call failed): a script must not read it as a pass. */
    static int exitCode(PerfReport report) {
        return report.runs().stream().allMatch(r -> r.requests() > r.failures()) ? 0 : 1;
    }

    @Command(name = "ceiling", mixinStandardHelpOptions = true,
            description = "Only the raw model in this process: throughput at the largest batch, latency at batch 1.")
    static final class CeilingCommand implements Callable<Integer> {
        @Mixin
        LoadOptions options;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            options.ceiling = true;
            PerfReport.CeilingResult ceiling = Ceiling.measure(options.model, options.repository, options.threads,
                    options.singleThreadMaxTokens, options.instances, options.ceilingBatch, options.corpus(), options.duration, options.warmup);
            PerfReport report = new PerfReport("kinfer perf", Instant.now().toString(), environment(commandLine(spec)),
                    List.of(), ceiling, null);
            Tables.print(System.out, report);
            if (options.json != null) {
                report.write(options.json);
            }
            if (options.html != null) {
                HtmlReport.write(report, options.html);
            }
            return 0;
        }
    }

    @Command(name = "compare", mixinStandardHelpOptions = true,
            description = "Before/after: the runs of two JSON reports side by side, with the ratio after/before.")
    static final class Compare implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "BEFORE.json")
        Path before;

        @Parameters(index = "1", paramLabel = "AFTER.json")
        Path after;

        @Override
        public Integer call() throws Exception {
            Tables.compare(System.out, PerfReport.read(before), PerfReport.read(after));
            return 0;
        }
    }
}
