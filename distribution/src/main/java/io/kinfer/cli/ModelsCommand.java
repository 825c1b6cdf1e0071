package io.kinfer.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

import io.kinfer.config.ConfigLoader;
import io.kinfer.config.ConfigOptions;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.worker.WorkerConfig;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelConfig;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code kinfer models}: lists the model repository, or loads one model and shows what it takes and returns. */
@Command(name = "models", mixinStandardHelpOptions = true,
        description = {"Lists the models a worker would serve (built-ins and the repository directory), or inspects "
                + "one: kinfer models [MODEL] [--model-repository DIR | --config FILE]."})
public final class ModelsCommand implements Callable<Integer> {

    @Parameters(arity = "0..1", paramLabel = "MODEL", description = "A model to load and inspect.")
    String model;

    @Option(names = {"-r", "--model-repository"}, paramLabel = "DIR",
            description = "Model repository directory (default: model.repository as a worker reads it, from "
                    + "--config or KINFER_CONFIG_FILE, then KINFER_MODEL_REPOSITORY; else the built-in models only).")
    Path repository;

    @Option(names = {"-c", "--config"}, paramLabel = "FILE",
            description = "The workers' properties file, for its model.repository (also KINFER_CONFIG_FILE).")
    Path configFile;

    /**
     * The environment, where a worker in the same pod or container finds its repository (and its config file);
     * tests pass their own.
     */
    Map<String, String> environment = System.getenv();

    @Option(names = "--model-version", paramLabel = "VERSION", description = "Version to inspect (default latest).")
    String version;

    @Override
    public Integer call() throws Exception {
        // model.repository from the same sources, in the same order, as a worker beside this command reads it.
        Map<String, String> flags = new LinkedHashMap<>();
        Map<String, String> options = new LinkedHashMap<>();
        ConfigOptions.putFlag(flags, options, WorkerConfig.MODEL_REPOSITORY, "--model-repository", repository);
        ConfigLoader.Loaded settings = ConfigLoader.loadTracked(configFile, environment, flags, options);
        String configured = settings.settings().get(WorkerConfig.MODEL_REPOSITORY);
        Path directory = configured == null || configured.isBlank() ? null : Path.of(configured.trim());
        if (directory != null && !Files.isDirectory(directory)) {
            System.err.println("kinfer models: model repository " + directory + " ("
                    + settings.sourceOf(WorkerConfig.MODEL_REPOSITORY).orElseThrow() + ") is not a directory");
            return 1;
        }
        ModelRepository repo = new ModelRepository(directory);
        if (model == null) {
            System.out.printf("%-24s %-8s %-10s %s%n", "MODEL", "KIND", "VERSIONS", "DESCRIPTION");
            for (String name : repo.modelNames()) {
                ModelConfig config = repo.config(name);
                System.out.printf("%-24s %-8s %-10s %s%n", name, config.kind(), String.join(",", repo.versions(name)),
                        config.description());
            }
            return 0;
        }
        if (!repo.contains(model)) {
            System.err.println("kinfer models: unknown model " + model + "; known: " + repo.modelNames());
            return 1;
        }
        String chosen = version != null ? version : repo.latestVersion(model).orElse(null);
        if (chosen == null) {
            // Before: "No value present".
            System.err.println("kinfer models: model " + model + " has no version directory (a number, such as 1)");
            return 1;
        }
        // One thread and one session: enough to read the signature, and no second copy of the model.
        try (LoadedModel loaded = repo.load(model, chosen, new OnnxSettings(1, false, 0))) {
            ModelMetadata metadata = loaded.metadata();
            ModelConfig config = repo.config(model);
            System.out.println("model:          " + metadata.name() + " (version " + metadata.version() + " of "
                    + repo.versions(model) + ")");
            System.out.println("kind:           " + metadata.kind() + ", post-processing " + metadata.postprocessing());
            System.out.println("description:    " + metadata.description());
            System.out.println("inputs:         " + describe(metadata.inputs()));
            System.out.println("outputs:        " + describe(metadata.outputs()));
            if (!metadata.labels().isEmpty()) {
                System.out.println("labels:         " + metadata.labels());
            }
            System.out.println("batching:       " + (config.batching() == ModelConfig.BatchingOverrides.NONE
                    ? "worker defaults" : config.batching()));
        }
        return 0;
    }

    private static String describe(List<TensorMetadata> tensors) {
        return tensors.stream().map(TensorMetadata::toString).toList().toString();
    }
}
