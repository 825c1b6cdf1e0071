package io.kinfer.worker.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.kinfer.protocol.Topics;

/**
 * The models a worker can serve: the built-ins ({@code minilm}, {@code sentiment}) shipped as classpath resources,
 * and an optional directory laid out like Triton's, {@code <repository>/<model>/<version>/model.onnx} with an
 * optional {@code <repository>/<model>/config.json}. Versions are numeric directory names; the highest is the
 * latest. A directory model of the same name as a built-in replaces it.
 */
public final class ModelRepository {

    static final String CLASSPATH = "classpath:";
    private static final String BUILT_IN_ROOT = "kinfer/models/";
    private static final List<String> BUILT_INS = List.of("minilm", "sentiment");
    private static final Pattern VERSION = Pattern.compile("[0-9]{1,9}");
    private static final ObjectMapper CONFIG_MAPPER = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private final Path directory;

    /** @param directory the on-disk repository, or null for the built-ins only */
    public ModelRepository(Path directory) {
        this.directory = directory;
    }

    public static ModelRepository builtInsOnly() {
        return new ModelRepository(null);
    }

    public Optional<Path> directory() {
        return Optional.ofNullable(directory);
    }

    /** Every model name, built-in and on disk, sorted. */
    public List<String> modelNames() {
        TreeMap<String, Boolean> names = new TreeMap<>();
        BUILT_INS.forEach(name -> names.put(name, true));
        if (directory != null && Files.isDirectory(directory)) {
            try (Stream<Path> children = Files.list(directory)) {
                children.filter(Files::isDirectory)
                        .map(p -> p.getFileName().toString())
                        .filter(Topics::isValidModelName)
                        .forEach(name -> names.put(name, true));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list model repository " + directory, e);
            }
        }
        return List.copyOf(names.keySet());
    }

    public boolean contains(String model) {
        return modelNames().contains(model);
    }

    /** The model's versions, oldest first; empty if the model is unknown. */
    public List<String> versions(String model) {
        Path dir = modelDir(model);
        if (dir != null) {
            try (Stream<Path> children = Files.list(dir)) {
                return children.filter(Files::isDirectory)
                        .map(p -> p.getFileName().toString())
                        .filter(v -> VERSION.matcher(v).matches())
                        // "1" and "01" are the same number: ordered by name too, so that the latest does not
                        // depend on the order the file system lists them in (a change of it would swap versions).
                        .sorted(Comparator.comparingLong((String v) -> Long.parseLong(v)).thenComparing(Comparator.naturalOrder()))
                        .toList();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list versions of " + model, e);
            }
        }
        if (BUILT_INS.contains(model)) {
            return config(model).versions();
        }
        return List.of();
    }

    public Optional<String> latestVersion(String model) {
        List<String> versions = versions(model);
        return versions.isEmpty() ? Optional.empty() : Optional.of(versions.get(versions.size() - 1));
    }

    /** The model's config.json, or the defaults when it has none. */
    public ModelConfig config(String model) {
        Path dir = modelDir(model);
        try {
            if (dir != null) {
                Path file = dir.resolve("config.json");
                return Files.exists(file) ? CONFIG_MAPPER.readValue(file.toFile(), ModelConfig.class)
                        : ModelConfig.defaults();
            }
            if (BUILT_INS.contains(model)) {
                try (InputStream in = classpath(BUILT_IN_ROOT + model + "/config.json")) {
                    return CONFIG_MAPPER.readValue(in, ModelConfig.class);
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("invalid config.json for model " + model + ": " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("unknown model " + model);
    }

    /** Loads one version: reads the ONNX file, creates the session, tokenizer and post-processing. */
    public LoadedModel load(String model, String version, OnnxSettings settings) throws ModelException {
        if (!versions(model).contains(version)) {
            throw new ModelException("model " + model + " has no version " + version);
        }
        ModelConfig config = config(model);
        Path versionDir = modelDir(model) == null ? null : modelDir(model).resolve(version);
        byte[] onnx = readAll(config.modelFile(), versionDir, model);
        if (!config.isText()) {
            return TensorModel.load(model, version, config, onnx, settings);
        }
        String tokenizer = config.tokenizer().file();
        try (InputStream in = open(tokenizer, versionDir, model)) {
            return TextModel.load(model, version, config, onnx, in, settings);
        } catch (IOException e) {
            throw new ModelException("cannot read tokenizer " + tokenizer + " of " + model + ": " + e.getMessage(), e);
        }
    }

    /**
     * A fingerprint of what is on disk (model, version, ONNX file size and time), so a watcher can tell that a
     * version was added or removed without loading anything.
     */
    public Map<String, List<String>> snapshot() {
        Map<String, List<String>> snapshot = new LinkedHashMap<>();
        for (String model : modelNames()) {
            snapshot.put(model, versions(model));
        }
        return snapshot;
    }

    private Path modelDir(String model) {
        if (directory == null || !Topics.isValidModelName(model)) {
            return null;
        }
        Path dir = directory.resolve(model);
        return Files.isDirectory(dir) ? dir : null;
    }

    private byte[] readAll(String ref, Path versionDir, String model) throws ModelException {
        try (InputStream in = open(ref, versionDir, model)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new ModelException("cannot read model file " + ref + " of " + model + ": " + e.getMessage(), e);
        }
    }

    /** A file named in a config: {@code classpath:...}, or relative to the version directory, then the model's. */
    private InputStream open(String ref, Path versionDir, String model) throws IOException {
        if (ref.startsWith(CLASSPATH)) {
            return classpath(ref.substring(CLASSPATH.length()));
        }
        List<Path> candidates = new ArrayList<>();
        if (versionDir != null) {
            candidates.add(versionDir.resolve(ref));
            candidates.add(versionDir.getParent().resolve(ref));
        }
        for (Path candidate : candidates) {
            if (Files.isRegularFile(candidate)) {
                return Files.newInputStream(candidate);
            }
        }
        throw new IOException("file " + ref + " not found for model " + model + " (looked in " + candidates + ")");
    }

    private static InputStream classpath(String resource) throws IOException {
        InputStream in = ModelRepository.class.getClassLoader().getResourceAsStream(resource);
        if (in == null) {
            throw new IOException("classpath resource " + resource + " not found");
        }
        return in;
    }
}
