package io.kinfer.worker;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import io.kinfer.config.ConfigOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code kinfer worker}: runs an inference worker until SIGTERM or Ctrl-C, then drains and stops. */
@Command(name = "worker", mixinStandardHelpOptions = true,
        description = {"Consumes prediction requests from Kafka, batches them dynamically, runs ONNX Runtime and "
                + "replies.", "Every setting is listed in docs/CONFIGURATION.md; flags override environment "
                + "variables (KINFER_*), which override the --config file."})
public final class WorkerCommand implements Callable<Integer> {

    /** Printed on standard output once the worker serves, for a parent process to wait on. */
    public static final String READY_MARKER = "WORKER_READY ";

    @Mixin
    ConfigOptions configOptions;

    @Option(names = {"-m", "--models"}, paramLabel = "MODEL[,MODEL...]",
            description = "Models to serve (worker.models; default sentiment,minilm; * for all).")
    String models;

    @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR",
            description = "Model repository directory (model.repository; default: built-in models only).")
    String repository;

    @Option(names = "--id", description = "Worker id (worker.id; default host-pid).")
    String id;

    @Option(names = "--metrics-port", description = "Port of /metrics and /health (metrics.port; default 9400; "
            + "0: any free port; -1: off).")
    Integer metricsPort;

    @Option(names = "--share-group", description = "Join a share group (group.mode=share) instead of a consumer group.")
    boolean shareGroup;

    @Override
    public Integer call() throws Exception {
        // Each flag's option is its value's source: an error about it names --metrics-port.
        Map<String, String> flags = new LinkedHashMap<>();
        Map<String, String> options = new LinkedHashMap<>();
        ConfigOptions.putFlag(flags, options, WorkerConfig.MODELS, "--models", models);
        ConfigOptions.putFlag(flags, options, WorkerConfig.MODEL_REPOSITORY, "--model-repository", repository);
        ConfigOptions.putFlag(flags, options, WorkerConfig.WORKER_ID, "--id", id);
        ConfigOptions.putFlag(flags, options, WorkerConfig.METRICS_PORT, "--metrics-port", metricsPort);
        ConfigOptions.putFlag(flags, options, WorkerConfig.GROUP_MODE, "--share-group",
                shareGroup ? WorkerConfig.MODE_SHARE : null);
        WorkerConfig config = new WorkerConfig(configOptions.load(flags, options));
        InferenceWorker worker = InferenceWorker.start(config);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            worker.close();
            stopped.countDown();
        }, "kinfer-worker-shutdown"));
        System.out.println(READY_MARKER + worker.workerId() + " " + worker.metricsUrl().orElse("-"));
        System.out.flush();
        stopped.await();
        return 0;
    }
}
