package io.kinfer.worker.model;

import java.util.List;
import java.util.Map;

/**
 * A model's {@code config.json}, at {@code <repository>/<model>/config.json} (or a classpath resource for the
 * built-ins). Every field is optional: a directory holding only {@code <version>/model.onnx} is a tensor model with
 * the worker's default batching. Field names are snake case on disk.
 *
 * <pre>{@code
 * {
 *   "kind": "text",                                   // "text" (tokenize, pool) or "tensor" (named tensors)
 *   "model_file": "model.onnx",                       // per version directory, or "classpath:..."
 *   "versions": ["1"],                                // only for classpath models; on disk, the numeric subdirectories
 *   "tokenizer": {"file": "tokenizer.json", "max_length": 256},
 *   "postprocessing": {"kind": "classify", "labels": {"positive": ["..."], "negative": ["..."]}, "temperature": 0.05},
 *   "batching": {"max_batch_size": 32, "max_queue_delay_ms": 2, "max_queue_size": 512, "priority_levels": 1,
 *                "pad_aware": true, "instances": 2},
 *   "cache": {"enabled": true}
 * }
 * }</pre>
 */
public record ModelConfig(String kind, String modelFile, List<String> versions, TokenizerSettings tokenizer,
                          PostProcessing postprocessing, BatchingOverrides batching, CacheSettings cache,
                          String description) {

    public static final String TEXT = "text";
    public static final String TENSOR = "tensor";

    public ModelConfig {
        kind = kind == null ? (tokenizer != null ? TEXT : TENSOR) : kind;
        if (!TEXT.equals(kind) && !TENSOR.equals(kind)) {
            // A typo ("tensorr") was served as a tensor model without a word.
            throw new IllegalArgumentException("kind must be \"" + TEXT + "\" or \"" + TENSOR + "\", not \"" + kind
                    + "\"");
        }
        if (TEXT.equals(kind) && tokenizer == null) {
            tokenizer = new TokenizerSettings(null, null);
        }
        modelFile = modelFile == null ? "model.onnx" : modelFile;
        versions = versions == null ? List.of() : List.copyOf(versions);
        postprocessing = postprocessing == null ? new PostProcessing(null, null, null, null) : postprocessing;
        batching = batching == null ? BatchingOverrides.NONE : batching;
        cache = cache == null ? new CacheSettings(null) : cache;
        description = description == null ? "" : description;
    }

    public static ModelConfig defaults() {
        return new ModelConfig(null, null, null, null, null, null, null, null);
    }

    public boolean isText() {
        return TEXT.equals(kind);
    }

    /** The tokenizer JSON (Hugging Face format) and the longest token sequence kept. */
    public record TokenizerSettings(String file, Integer maxLength) {
        public TokenizerSettings {
            file = file == null ? "tokenizer.json" : file;
            maxLength = maxLength == null ? 256 : maxLength;
        }
    }

    /**
     * What turns the model's output into answers. {@code embedding}: mean pooling over the attention mask, then L2
     * norm. {@code classify}: the embedding's nearest label prototype (the mean of the label's example sentences),
     * with softmax(cosine / temperature) scores. {@code none}: the output tensors as they are (tensor models).
     */
    public record PostProcessing(String kind, String output, Map<String, List<String>> labels, Double temperature) {
        public static final String EMBEDDING = "embedding";
        public static final String CLASSIFY = "classify";
        public static final String NONE = "none";

        public PostProcessing {
            labels = labels == null ? Map.of() : labels;
            temperature = temperature == null ? 0.05 : temperature;
        }

        public String kindOr(String fallback) {
            return kind == null ? fallback : kind;
        }
    }

    /** Batching settings for this model; null fields take the worker's defaults. */
    public record BatchingOverrides(Integer maxBatchSize, Double maxQueueDelayMs, Integer maxQueueSize,
                                    Integer priorityLevels, Boolean padAware, Integer instances) {
        public static final BatchingOverrides NONE = new BatchingOverrides(null, null, null, null, null, null);

        /** {@code max_batch_size} 0: Triton's "no batching", each request in a model call of its own. */
        public boolean unbatched() {
            return Integer.valueOf(0).equals(maxBatchSize);
        }
    }

    /** {@code enabled: false} for models whose outputs are not a pure function of their inputs. */
    public record CacheSettings(Boolean enabled) {
    }
}
