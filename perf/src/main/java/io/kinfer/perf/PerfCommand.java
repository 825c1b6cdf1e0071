package io.kinfer.perf;

import java.io.IOException;
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
import io.kinfer.config.KafkaClientProperties;
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
            if (v.startsWith("p")) { // ISO-8601 (PT2S): it ends in s or m too, and is no decimal number
                return Duration.parse(value.trim());
            }
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

    /** Where a load goes; lower case, as typed (picocli refuses any other value with the list of these). */
    enum TargetKind {
        http, oip, kafka
    }

    /** Open-loop arrivals. */
    enum Arrivals {
        poisson, constant
    }

    /** --grouping's values as typed: pad-aware or arrival. */
    static final class GroupingConverter implements CommandLine.ITypeConverter<Ceiling.Grouping> {
        @Override
        public Ceiling.Grouping convert(String value) {
            try {
                return Ceiling.Grouping.parse(value);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The default of --max-failure-rate, in percent of a load's calls. */
    static final double DEFAULT_MAX_FAILURE_PERCENT = 1.0;

    /** What every load command shares: where to send, what, for how long, and what to write. */
    static final class LoadOptions {
        @Option(names = "--target", defaultValue = "http", description = "http (simple API), oip (Open Inference "
                + "Protocol) or kafka (the Java client, no HTTP). Default: ${DEFAULT-VALUE}.")
        TargetKind target;

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
                description = "Per-call timeout, sent as the call's deadline (the kinfer-timeout-ms header over "
                        + "HTTP, capped by the gateway's gateway.max.timeout.ms), so workers skip calls given up on. A "
                        + "call that times out counts as a failure and is in the latency percentiles at its elapsed "
                        + "time, so a stall shows in the tail. Default: ${DEFAULT-VALUE}.")
        Duration timeout;

        @Option(names = "--max-failure-rate", paramLabel = "PERCENT", defaultValue = "" + DEFAULT_MAX_FAILURE_PERCENT,
                description = "Exit with status 1 when more than this percentage of a load's calls failed "
                        + "(timeouts included), after writing the report; a load with no successful answer always "
                        + "exits 1. Default: ${DEFAULT-VALUE} (%%).")
        double maxFailurePercent;

        @Option(names = "--texts", paramLabel = "FILE", description = "One input text per line (default: a built-in "
                + "corpus of reviews from 1 to 60 words).")
        Path texts;

        @Option(names = "--repeat-texts", description = "Send the corpus texts as they are, so repeats are answered "
                + "from the workers' result cache (default: each text made unique, so the model is measured).")
        boolean repeatTexts;

        @Option(names = "--ceiling", description = "Also measure the raw model in this process (same model, thread "
                + "settings and batching as a worker, no Kafka, no HTTP) and report each load's ratio to it. It runs "
                + "in this JVM: where that is a load generator's C1-only JVM (perf/lib.sh), measure it with perf "
                + "ceiling --json in a JVM of its own and pass --ceiling-from instead.")
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

        @Option(names = "--grouping", defaultValue = "pad-aware", converter = GroupingConverter.class,
                description = "How the ceiling groups texts into batches: pad-aware (the worker's own batcher and "
                        + "default batch.pad.aware=true, on a queue kept full) or arrival (consecutive texts, "
                        + "padded to the longest: a worker with batch.pad.aware=false). Default: ${DEFAULT-VALUE}.")
        Ceiling.Grouping grouping;

        @Option(names = "--ceiling-queue", paramLabel = "N", defaultValue = "0", description = "Texts the ceiling "
                + "keeps queued for its batcher to group (a saturated worker's queue, batch.max.queue.size); with "
                + "a closed-loop load of U users the worker never holds more than U. 0: the model's "
                + "batching.max_queue_size, else the worker's default batch.max.queue.size (0 is the default).")
        int ceilingQueue;

        @Option(names = "--ceiling-from", paramLabel = "FILE", description = "Compare each load with the ceiling "
                + "of this JSON report (written by perf ceiling --json, e.g. in a JVM of its own) instead of "
                + "measuring one here.")
        Path ceilingFrom;

        @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR", description = "Model repository of the "
                + "ceiling's model (default: the built-ins).")
        Path repository;

        @Option(names = "--json", paramLabel = "FILE", description = "Write every figure as JSON.")
        Path json;

        @Option(names = "--html", paramLabel = "FILE", description = "Write a self-contained HTML report with charts.")
        Path html;

        @Option(names = "--profile", description = "Record Java Flight Recorder on the local workers and gateway of "
                + "the measured pipeline (those on the target's Kafka cluster) during the loads; print the hottest "
                + "methods and keep the .jfr files. A process that exits during the run loses only its own profile.")
        boolean profile;

        @Option(names = "--profile-pid", paramLabel = "PID", description = "Profile these processes instead of the "
                + "local kinfer ones (repeatable).")
        List<Long> profilePids = new ArrayList<>();

        @Option(names = "--out", defaultValue = "perf-results", description = "Directory for .jfr files. Default: "
                + "${DEFAULT-VALUE}.")
        Path out;

        /**
         * Refuses values that could only fail after the warm-up and the whole duration (or run something else than
         * asked), before anything starts: a usage error, exit status 2.
         */
        void validate(CommandLine commandLine) {
            check(commandLine, !duration.isNegative() && !duration.isZero(), "--duration must be positive, not "
                    + duration);
            check(commandLine, !warmup.isNegative(), "--warmup must not be negative, not " + warmup);
            check(commandLine, !timeout.isNegative() && !timeout.isZero(), "--timeout must be positive, not "
                    + timeout);
            check(commandLine, maxFailurePercent >= 0 && maxFailurePercent <= 100,
                    "--max-failure-rate must be a percentage from 0 to 100, not " + maxFailurePercent);
            check(commandLine, threads >= 0, "--threads must be 0 (shared) or more, not " + threads);
            check(commandLine, instances >= 1, "--instances must be at least 1, not " + instances);
            check(commandLine, ceilingBatch >= 1, "--ceiling-batch must be at least 1, not " + ceilingBatch);
            check(commandLine, ceilingQueue >= 0, "--ceiling-queue must be 0 (the default) or more, not "
                    + ceilingQueue);
            check(commandLine, singleThreadMaxTokens >= 0, "--single-thread-max-tokens must be 0 (never) or more, "
                    + "not " + singleThreadMaxTokens);
            check(commandLine, !(ceiling && ceilingFrom != null), "--ceiling and --ceiling-from: measure a ceiling "
                    + "here or read one, not both");
        }

        /** The ceiling to compare with: measured here (--ceiling), read (--ceiling-from), or none. */
        PerfReport.CeilingResult ceiling(Corpus corpus) throws Exception {
            if (ceilingFrom != null) {
                PerfReport.CeilingResult read = PerfReport.read(ceilingFrom).ceiling();
                if (read == null) {
                    throw new IllegalArgumentException("--ceiling-from " + ceilingFrom + ": the report has no ceiling "
                            + "(write one with perf ceiling --json)");
                }
                return read;
            }
            if (!ceiling) {
                return null;
            }
            return measureCeiling(corpus, duration.dividedBy(2).plusSeconds(1), Duration.ofSeconds(3));
        }

        PerfReport.CeilingResult measureCeiling(Corpus corpus, Duration duration, Duration warmup) throws Exception {
            System.err.printf("measuring the raw model's ceiling (%s, batch %d, %s threads, %d instances, %s "
                    + "grouping) ...%n", model, ceilingBatch, threads == 0 ? "default" : Integer.toString(threads),
                    instances, grouping.label());
            Progress progress = new Progress(System.err);
            return Ceiling.measure(model, repository, threads, singleThreadMaxTokens, instances, ceilingBatch,
                    grouping, ceilingQueue, corpus, duration, warmup, progress::phase);
        }

        Target target() {
            return switch (target) {
                case http, oip -> {
                    Map<String, String> settings = config.load(Map.of());
                    yield new HttpTarget(url != null ? url : defaultUrl(settings), model, target == TargetKind.oip,
                            timeout, apiKey != null ? apiKey : firstApiKey(settings));
                }
                case kafka -> {
                    // --timeout is a named flag: over the file and the environment, under --set, as elsewhere.
                    Map<String, Object> client = new HashMap<>(config.load(Map.of(ClientConfig.REQUEST_TIMEOUT_MS,
                            Long.toString(timeout.toMillis()))));
                    yield new KafkaTarget(client, model, timeout);
                }
            };
        }

        /** The local processes of the pipeline this load measures: those on the target's Kafka cluster. */
        LocalPipeline localPipeline() {
            Map<String, String> settings = config.load(Map.of());
            if (target == TargetKind.kafka) {
                return LocalPipeline.forKafka(settings.getOrDefault(KafkaClientProperties.BOOTSTRAP_SERVERS,
                        KafkaClientProperties.BOOTSTRAP_SERVERS_DEFAULT));
            }
            return LocalPipeline.forGateway(url != null ? url : defaultUrl(settings));
        }

        /** Why the gateway cannot be reached at all, for the HTTP targets (the Kafka client waits for its cluster). */
        Optional<String> unreachable() {
            if (target == TargetKind.kafka) {
                return Optional.empty();
            }
            try (Target probe = target()) {
                return probe.unreachable();
            }
        }

        /** The gateway of the settings on this machine: gateway.host (127.0.0.1 for a wildcard) and gateway.port. */
        static String defaultUrl(Map<String, String> settings) {
            String port = settings.getOrDefault(GATEWAY_PORT, "").trim();
            int number;
            try {
                number = port.isEmpty() ? 8080 : Integer.parseInt(port);
            } catch (NumberFormatException e) {
                number = -1;
            }
            if (number < 1 || number > 65_535) {
                // Read from the settings (file, environment, --set) only to find the gateway: say so, and the way out.
                throw new IllegalArgumentException(GATEWAY_PORT + " (read from the settings to find the gateway): not "
                        + "a port from 1 to 65535: " + port + "; fix it, or give --url");
            }
            return LocalUrl.http(settings.get(GATEWAY_HOST), number);
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
        PerfReport.CeilingResult ceiling = options.ceiling(corpus);
        LocalPipeline pipeline = options.localPipeline();
        if (pipeline.note() != null) {
            System.err.println(pipeline.note());
        }
        List<Profiler.Process> recording = new ArrayList<>();
        if (options.profile) {
            List<Profiler.Process> profiled = options.profilePids.isEmpty() ? Profiler.findLocal(pipeline)
                    : options.profilePids.stream().map(pid -> new Profiler.Process("pid-" + pid, pid)).toList();
            if (profiled.isEmpty()) {
                System.err.println("--profile: no local kinfer worker or gateway of this pipeline found; use "
                        + "--profile-pid");
            }
            // One process that cannot be recorded (gone, another user's) costs its own profile, not the others' or
            // the run; those started are stopped whatever happens below.
            for (Profiler.Process process : profiled) {
                try {
                    Profiler.start(process);
                    recording.add(process);
                } catch (IOException e) {
                    System.err.println("--profile: not profiling " + process.name() + ": " + e.getMessage());
                }
            }
        }
        List<PerfReport.RunResult> runs = new ArrayList<>();
        List<PerfReport.ProfileResult> profiles = new ArrayList<>();
        try (Target target = options.target()) {
            Progress progress = new Progress(System.err);
            LoadRunner runner = new LoadRunner(target, corpus, progress, options.timeout);
            for (LoadRunner.Plan plan : plans) {
                CpuSampler cpu = new CpuSampler(pipeline);
                PerfReport.RunResult result = runner.run(plan, cpu);
                progress.done();
                runs.add(withModelAndRatio(result, options.model, ceiling, cpu.coresUsed()));
                if (result.sendLag() != null && result.sendLag().behind()) {
                    // Latency still counts from the plan; but the arrivals were not the ones planned.
                    System.err.printf("warning: %s: the load generator fell behind its plan: %s%n", result.name(),
                            Tables.behind(result.sendLag()));
                }
            }
        } finally {
            profiles.addAll(stopProfiling(recording, options.out));
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

    /**
     * Stops every recording separately and analyses what it wrote: a process that exited during the run (a failover
     * test kills one) loses its own profile, with a warning, never the report or the other profiles.
     */
    static List<PerfReport.ProfileResult> stopProfiling(List<Profiler.Process> recording, Path directory) {
        List<PerfReport.ProfileResult> profiles = new ArrayList<>();
        if (recording.isEmpty()) {
            return profiles;
        }
        try {
            Files.createDirectories(directory);
        } catch (IOException e) {
            System.err.println("--profile: cannot create " + directory + ": " + e.getMessage());
        }
        for (Profiler.Process process : recording) {
            try {
                profiles.add(Profiler.analyze(process.name(), Profiler.stop(process, directory), 15));
            } catch (IOException | RuntimeException e) {
                System.err.println("--profile: no profile of " + process.name() + " (did it exit during the run?): "
                        + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                System.err.println("--profile: interrupted while stopping the recording of " + process.name());
            }
        }
        return profiles;
    }

    private static PerfReport.RunResult withModelAndRatio(PerfReport.RunResult r, String model,
                                                          PerfReport.CeilingResult ceiling,
                                                          Map<String, Double> cpuCores) {
        Double ratio = ceiling == null || ceiling.itemsPerSecond() == 0 ? null
                : Math.round(r.itemsPerSecond() / ceiling.itemsPerSecond() * 1000) / 1000.0;
        return r.with(model, ratio, cpuCores);
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
                description = "Open-loop arrivals: ${COMPLETION-CANDIDATES}. Default: ${DEFAULT-VALUE}.")
        Arrivals arrivals;

        @Option(names = {"-b", "--batch"}, defaultValue = "1",
                description = "Texts per call (1: /predict; more: /predict_batch). Default: ${DEFAULT-VALUE}.")
        int batch;

        @Option(names = "--sweep-users", split = ",", description = "Closed-loop sweep, e.g. 1,2,4,8,16,32.")
        List<Integer> sweepUsers = new ArrayList<>();

        @Option(names = "--sweep-rates", split = ",", description = "Open-loop sweep, e.g. 10,50,100,200.")
        List<Double> sweepRates = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            CommandLine cli = spec.commandLine();
            options.validate(cli);
            CommandLine.ParseResult parsed = cli.getParseResult();
            List<String> shapes = new ArrayList<>();
            for (String option : List.of("--users", "--rate", "--sweep-users", "--sweep-rates")) {
                if (parsed.hasMatchedOption(option)) {
                    shapes.add(option);
                }
            }
            check(cli, shapes.size() <= 1, String.join(" and ", shapes) + ": give one of --users, --rate, "
                    + "--sweep-users and --sweep-rates");
            boolean open = rate != null || !sweepRates.isEmpty();
            check(cli, open || !parsed.hasMatchedOption("--arrivals"), "--arrivals applies to an open loop "
                    + "(--rate or --sweep-rates)");
            check(cli, users >= 1, "--users must be at least 1, not " + users);
            check(cli, rate == null || rate > 0, "--rate must be positive, not " + rate);
            check(cli, batch >= 1, "--batch must be at least 1, not " + batch);
            check(cli, sweepUsers.stream().allMatch(u -> u != null && u >= 1), "--sweep-users must all be at least "
                    + "1: " + sweepUsers);
            check(cli, sweepRates.stream().allMatch(r -> r != null && r > 0), "--sweep-rates must all be positive: "
                    + sweepRates);
            List<LoadRunner.Plan> plans = new ArrayList<>();
            boolean poisson = arrivals == Arrivals.poisson;
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
            return exitCode(execute(options, plans, commandLine(spec)), options.maxFailurePercent,
                    spec.commandLine().getErr());
        }
    }

    /** A usage error (exit status 2, with the command's usage) when the condition does not hold. */
    static void check(CommandLine commandLine, boolean condition, String message) {
        if (!condition) {
            throw new CommandLine.ParameterException(commandLine, message);
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
            CommandLine cli = spec.commandLine();
            options.validate(cli);
            check(cli, stressUsers >= 1, "--stress-users must be at least 1, not " + stressUsers);
            Map<String, int[]> scenarios = new LinkedHashMap<>();
            scenarios.put("single-user", new int[] {1, 1});
            scenarios.put("ten-users", new int[] {10, 1});
            scenarios.put("batch-5", new int[] {1, 5});
            scenarios.put("batch-25", new int[] {1, 25});
            scenarios.put("batch-50", new int[] {1, 50});
            scenarios.put("stress", new int[] {stressUsers, 1});
            List<String> unknown = only.stream().filter(name -> !scenarios.containsKey(name)).toList();
            check(cli, unknown.isEmpty(), "--only: no scenario " + String.join(", ", unknown) + " (there are "
                    + String.join(", ", scenarios.keySet()) + ")");
            List<LoadRunner.Plan> plans = new ArrayList<>();
            scenarios.forEach((name, shape) -> {
                if (only.isEmpty() || only.contains(name)) {
                    plans.add(new LoadRunner.Plan(name, shape[0], 0, true, shape[1], options.warmup, options.duration));
                }
            });
            return exitCode(execute(options, plans, commandLine(spec)), options.maxFailurePercent,
                    spec.commandLine().getErr());
        }
    }

    /**
     * 1 when a load got no answer at all (nothing sent, or every call failed) or when more than
     * {@code maxFailurePercent} % of its calls failed: a script must not read either as a pass. Says why on err.
     */
    static int exitCode(PerfReport report, double maxFailurePercent, java.io.PrintWriter err) {
        int code = 0;
        for (PerfReport.RunResult r : report.runs()) {
            if (r.requests() <= r.failures()) {
                err.printf("%s: no call was answered successfully (%d calls, %d failed)%n", r.name(),
                        r.requests(), r.failures());
                code = 1;
            } else if (r.failureRate() * 100 > maxFailurePercent) {
                err.printf("%s: %.2f %% of the calls failed (%d of %d), more than --max-failure-rate %s %%%n",
                        r.name(), r.failureRate() * 100, r.failures(), r.requests(), maxFailurePercent);
                code = 1;
            }
        }
        err.flush();
        return code;
    }

    @Command(name = "ceiling", mixinStandardHelpOptions = true,
            description = {"Only the raw model in this process: throughput at the largest batch, latency at batch 1.",
                    "It runs no load: the options of perf run that only a load uses (--target, --url, --api-key, "
                    + "--timeout, --max-failure-rate, --ceiling, --ceiling-from, --profile, --profile-pid, --out) "
                    + "are refused."})
    static final class CeilingCommand implements Callable<Integer> {
        /** LoadOptions' options that only a load uses: given to perf ceiling, they were accepted and ignored. */
        static final List<String> LOAD_ONLY = List.of("--target", "--url", "--api-key", "--timeout",
                "--max-failure-rate", "--ceiling", "--ceiling-from", "--profile", "--profile-pid", "--out");

        @Mixin
        LoadOptions options;

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws Exception {
            CommandLine cli = spec.commandLine();
            options.validate(cli);
            for (String option : LOAD_ONLY) {
                check(cli, !cli.getParseResult().hasMatchedOption(option), option + " applies to a load (perf run, "
                        + "perf scenarios); perf ceiling runs none");
            }
            options.ceiling = true;
            PerfReport.CeilingResult ceiling = options.measureCeiling(options.corpus(), options.duration,
                    options.warmup);
            PerfReport report = new PerfReport("kinfer perf", Instant.now().toString(), environment(commandLine(spec)),
                    List.of(), ceiling, null);
            Tables.print(System.out, report);
            if (options.json != null) {
                report.write(options.json);
                System.out.println("JSON: " + options.json);
            }
            if (options.html != null) {
                HtmlReport.write(report, options.html);
                System.out.println("HTML: " + options.html);
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
            if (Tables.compare(System.out, PerfReport.read(before), PerfReport.read(after)) == 0) {
                System.err.println("perf compare: " + before + " and " + after + " have no load of the same name and "
                        + "not both a ceiling: nothing was compared");
                return 1;
            }
            return 0;
        }
    }
}
