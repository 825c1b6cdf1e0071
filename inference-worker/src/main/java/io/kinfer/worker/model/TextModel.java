package io.kinfer.worker.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.worker.model.ModelConfig.PostProcessing;
import io.kinfer.worker.model.TextEncoder.Tokens;

/**
 * A BERT-style text model: tokenize, pad the batch to its longest row, one ONNX Runtime call, then mean-pool the
 * token states over the attention mask and L2-normalize. {@code classify} models then pick the nearest label
 * prototype; {@code embedding} models return the vector.
 */
final class TextModel implements LoadedModel {

    private static final String INPUT_IDS = "input_ids";
    private static final String ATTENTION_MASK = "attention_mask";
    private static final String TOKEN_TYPE_IDS = "token_type_ids";
    private static final Set<String> KNOWN_INPUTS = Set.of(INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS);
    /** The most floats (or longs) one direct buffer holds: its capacity in bytes is an int. */
    private static final long MAX_BUFFER_FLOATS = Integer.MAX_VALUE / Float.BYTES;
    private static final long MAX_BUFFER_LONGS = Integer.MAX_VALUE / Long.BYTES;

    private final ModelMetadata metadata;
    private final TextEncoder encoder;
    private final OnnxSession session;
    private final String outputName;
    private final Set<String> feeds;
    private final int hidden;
    /** Whether the output holds token states ([batch, seq, hidden]) to mean-pool, or pooled rows already. */
    private final boolean pooled;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    private final boolean classify;
    private final boolean cacheable;
    private final List<String> labels;
    private final float[][] prototypes;
    private final double temperature;
    /** Tokens of an empty text: only those the tokenizer always adds ([CLS] [SEP]). */
    private final int emptyLength;

    private TextModel(String name, String version, ModelConfig config, OnnxSession session, TextEncoder encoder)
            throws ModelException {
        this.session = session;
        this.encoder = encoder;
        this.feeds = session.inputs().keySet();
        this.emptyLength = encoder.encode("").length();
        if (encoder.maxLength() <= emptyLength) {
            throw new ModelException("tokenizer max_length " + encoder.maxLength() + " leaves no room for text: the "
                    + "tokenizer adds " + emptyLength + " tokens of its own to every text");
        }
        if (!feeds.contains(INPUT_IDS) || !KNOWN_INPUTS.containsAll(feeds)) {
            throw new ModelException("a text model takes " + KNOWN_INPUTS + " (input_ids required); this one takes "
                    + feeds);
        }
        // The tokens are fed as int64, as Hugging Face exports them; an export with int32 ids loaded and then failed
        // every batch (and every request's isolation call after it).
        for (Map.Entry<String, TensorInfo> feed : session.inputs().entrySet()) {
            if (feed.getValue().type != OnnxJavaType.INT64) {
                throw new ModelException("input " + feed.getKey() + " is " + feed.getValue().type + "; a text model's "
                        + "inputs must be int64 (re-export the model with int64 token ids)");
            }
        }
        PostProcessing post = config.postprocessing();
        this.outputName = post.output() != null ? post.output()
                : session.outputs().containsKey("last_hidden_state") ? "last_hidden_state"
                : session.outputs().keySet().iterator().next();
        TensorInfo out = session.outputs().get(outputName);
        if (out == null) {
            throw new ModelException("output " + outputName + " not in model outputs " + session.outputs().keySet());
        }
        if (out.type != OnnxJavaType.FLOAT) {
            throw new ModelException("output " + outputName + " is " + out.type + "; a text model's output must be "
                    + "float32");
        }
        long[] outShape = out.getShape();
        this.hidden = (int) outShape[outShape.length - 1];
        this.pooled = outShape.length == 3;
        if (hidden <= 0 || (outShape.length != 2 && outShape.length != 3)) {
            throw new ModelException("output " + outputName + " must be [batch, hidden] or [batch, seq, hidden]"
                    + " with a fixed hidden size");
        }
        String kind = post.kindOr(PostProcessing.EMBEDDING);
        this.classify = PostProcessing.CLASSIFY.equals(kind);
        if (!classify && !PostProcessing.EMBEDDING.equals(kind)) {
            throw new ModelException("text models post-process as embedding or classify, not " + kind);
        }
        this.cacheable = config.cache().enabled() == null || config.cache().enabled();
        this.temperature = post.temperature();
        if (classify && !(Double.isFinite(temperature) && temperature > 0)) {
            // 0 made every score NaN (and the label always the first); a negative one inverted the classes.
            throw new ModelException("postprocessing.temperature must be a positive number, not " + temperature);
        }
        this.labels = List.copyOf(post.labels().keySet());
        if (classify && labels.size() < 2) {
            throw new ModelException("a classify model needs at least two labels with example sentences");
        }
        this.prototypes = classify ? prototypes(post.labels()) : new float[0][];
        List<TensorMetadata> outputs = classify
                ? List.of(new TensorMetadata("label", DataType.BYTES, new long[] {-1}),
                        new TensorMetadata("scores", DataType.FP32, new long[] {-1, labels.size()}))
                : List.of(new TensorMetadata("embedding", DataType.FP32, new long[] {-1, hidden}));
        this.metadata = new ModelMetadata(name, version, ModelConfig.TEXT, kind,
                List.of(new TensorMetadata("text", DataType.BYTES, new long[] {-1})), outputs, labels, 0,
                config.description());
    }

    static TextModel load(String name, String version, ModelConfig config, byte[] onnx, InputStream tokenizerJson,
                          OnnxSettings settings) throws ModelException {
        OnnxSession session = OnnxSession.create(onnx, settings, true);
        TextEncoder encoder = null;
        try {
            encoder = new TextEncoder(tokenizerJson, config.tokenizer().maxLength());
            return new TextModel(name, version, config, session, encoder);
        } catch (IOException | RuntimeException | ModelException e) {
            session.close();
            if (encoder != null) {
                encoder.close();
            }
            throw e instanceof ModelException me ? me : new ModelException("cannot load text model " + name
                    + ": " + e.getMessage(), e);
        }
    }

    @Override
    public ModelMetadata metadata() {
        return metadata;
    }

    @Override
    public PreparedRequest prepare(InferenceRequest request) throws ProtocolException {
        if (!request.isText()) {
            throw new ProtocolException(ErrorCode.INVALID_TENSOR,
                    "model " + metadata.name() + " takes texts in 'inputs', not tensors");
        }
        List<String> texts = request.texts();
        List<Tokens> tokens = new ArrayList<>(texts.size());
        int longest = 0;
        for (int i = 0; i < texts.size(); i++) {
            Tokens t = encoder.encode(texts.get(i));
            if (t.length() <= emptyLength) {
                // Blank only once normalized ("\u00a0", "\u200b", control characters, "\ufffd"): the codec's
                // isBlank() passes them, and the model would see just [CLS] [SEP] and answer a meaningless vector.
                throw new ProtocolException(ErrorCode.EMPTY_INPUT, "inputs[" + i + "] is empty once the model's "
                        + "tokenizer has normalized it (only whitespace, control or invisible characters)");
            }
            tokens.add(t);
            longest = Math.max(longest, t.length());
        }
        return new Prepared(tokens, longest, cacheable ? request.texts() : null);
    }

    @Override
    public List<List<Output>> infer(List<PreparedRequest> batch) throws ModelException {
        List<Tokens> rows = new ArrayList<>();
        for (PreparedRequest request : batch) {
            rows.addAll(((Prepared) request).tokens);
        }
        float[][] vectors = embed(rows);
        List<List<Output>> results = new ArrayList<>(batch.size());
        int row = 0;
        for (PreparedRequest request : batch) {
            List<Output> outputs = new ArrayList<>(request.items());
            for (int i = 0; i < request.items(); i++) {
                float[] vector = vectors[row++];
                outputs.add(classify ? classifyOne(vector) : new Embedding(vector));
            }
            results.add(outputs);
        }
        return results;
    }

    /**
     * Refuses a max_batch_size whose largest call would not fit one direct buffer (2 GiB): rows × max_length ×
     * hidden floats of output. {@code batch.max.size} goes up to 4096, so 4096 texts of 512 tokens of 384 floats
     * would overflow the int sizes of a call's buffers; the worker says so at load instead of failing every full batch.
     */
    @Override
    public void checkMaxBatchSize(int maxBatchSize) throws ModelException {
        long tokens = (long) maxBatchSize * encoder.maxLength();
        long floats = (pooled ? tokens : maxBatchSize) * hidden;
        if (floats > MAX_BUFFER_FLOATS || tokens > MAX_BUFFER_LONGS) {
            long fits = Math.min(MAX_BUFFER_FLOATS / ((pooled ? encoder.maxLength() : 1L) * hidden),
                    MAX_BUFFER_LONGS / encoder.maxLength());
            throw new ModelException("max_batch_size " + maxBatchSize + " is too large for this model: a full batch "
                    + "of max_length " + encoder.maxLength() + " tokens and " + hidden + " hidden floats per token "
                    + "needs " + floats + " floats in one call, more than a buffer holds; use at most " + fits
                    + " (or a lower tokenizer max_length)");
        }
    }

    /**
     * Embeds the rows: in one call, each padded to the longest, when the model takes an attention mask; without
     * one, the model would read the padding as tokens (a short text's answer then depends on its batch-mates, and
     * the wrong one is cached), so rows of each length get a call of their own.
     */
    private float[][] embed(List<Tokens> rows) throws ModelException {
        if (feeds.contains(ATTENTION_MASK) || rows.stream().mapToInt(Tokens::length).distinct().count() <= 1) {
            return embedPadded(rows);
        }
        Map<Integer, List<Integer>> byLength = new TreeMap<>();
        for (int i = 0; i < rows.size(); i++) {
            byLength.computeIfAbsent(rows.get(i).length(), length -> new ArrayList<>()).add(i);
        }
        float[][] vectors = new float[rows.size()][];
        for (List<Integer> same : byLength.values()) {
            float[][] part = embedPadded(same.stream().map(rows::get).toList());
            for (int k = 0; k < same.size(); k++) {
                vectors[same.get(k)] = part[k];
            }
        }
        return vectors;
    }

    /** Pads the rows to the longest one, runs the model once, pools and normalizes each row. */
    private float[][] embedPadded(List<Tokens> rows) throws ModelException {
        int batch = rows.size();
        int seq = 0;
        for (Tokens t : rows) {
            seq = Math.max(seq, t.length());
        }
        long outputFloats = (long) batch * (pooled ? seq : 1) * hidden;
        if (outputFloats > MAX_BUFFER_FLOATS || (long) batch * seq > MAX_BUFFER_LONGS) {
            // Only label examples at load can get here: batches are bounded by checkMaxBatchSize.
            throw new ModelException("a call of " + batch + " texts of " + seq + " tokens is too large for one "
                    + "buffer (" + outputFloats + " output floats)");
        }
        Scratch buffers = scratch.get();
        buffers.fill(rows, seq);
        long[] shape = {batch, seq};
        Map<String, OnnxTensor> inputs = new HashMap<>();
        OnnxTensor states = null;
        try {
            inputs.put(INPUT_IDS, OnnxTensor.createTensor(session.env(), buffers.ids, shape));
            if (feeds.contains(ATTENTION_MASK)) {
                inputs.put(ATTENTION_MASK, OnnxTensor.createTensor(session.env(), buffers.mask, shape));
            }
            if (feeds.contains(TOKEN_TYPE_IDS)) {
                inputs.put(TOKEN_TYPE_IDS, OnnxTensor.createTensor(session.env(), buffers.types, shape));
            }
            long[] outShape = pooled ? new long[] {batch, seq, hidden} : new long[] {batch, hidden};
            FloatBuffer output = buffers.output((int) outputFloats);
            states = OnnxTensor.createTensor(session.env(), output, outShape);
            try (OrtSession.Result ignored = session.run(inputs, Map.of(outputName, states), (long) batch * seq)) {
                return pooled ? meanPool(output, rows, seq) : rowsOf(output, batch);
            }
        } catch (OrtException e) {
            throw new ModelException("ONNX Runtime failed: " + e.getMessage(), e);
        } finally {
            inputs.values().forEach(OnnxTensor::close);
            if (states != null) {
                states.close();
            }
        }
    }

    private float[][] meanPool(FloatBuffer states, List<Tokens> rows, int seq) {
        float[][] out = new float[rows.size()][hidden];
        for (int r = 0; r < rows.size(); r++) {
            float[] sum = out[r];
            long[] mask = rows.get(r).mask();
            int count = 0;
            for (int t = 0; t < mask.length; t++) { // padding (t >= mask.length) has mask 0
                if (mask[t] == 0) {
                    continue;
                }
                count++;
                int base = (r * seq + t) * hidden;
                for (int h = 0; h < hidden; h++) {
                    sum[h] += states.get(base + h);
                }
            }
            if (count > 0) {
                for (int h = 0; h < hidden; h++) {
                    sum[h] /= count;
                }
            }
            normalize(sum);
        }
        return out;
    }

    private float[][] rowsOf(FloatBuffer states, int batch) {
        float[][] out = new float[batch][hidden];
        for (int r = 0; r < batch; r++) {
            states.get(r * hidden, out[r], 0, hidden);
            normalize(out[r]);
        }
        return out;
    }

    /**
     * One batcher thread's direct buffers for a call's inputs and output. ONNX Runtime reads and writes direct
     * buffers in place, so a call allocates nothing on the Java heap for its tensors: heap arrays were copied into
     * fresh direct buffers on the way in, and the output (rows × longest × hidden floats, ~600 KB for 8 texts of
     * 49 tokens) was copied into a fresh heap buffer on the way out, 65 % of the worker's allocation and so most
     * of its young collections (JFR, docs/PERFORMANCE.md). Per thread because instances run one session at once.
     * Grown to the largest call seen, never shrunk: at most max batch × max length × hidden floats.
     */
    private static final class Scratch {
        LongBuffer ids;
        LongBuffer mask;
        LongBuffer types;
        FloatBuffer output;

        /** Writes the rows, each padded with zeros to {@code seq}, as the three inputs (each exactly rows × seq). */
        void fill(List<Tokens> rows, int seq) {
            int size = rows.size() * seq;
            ids = longs(ids, size);
            mask = longs(mask, size);
            types = longs(types, size);
            for (Tokens t : rows) {
                int pad = seq - t.length();
                ids.put(t.ids());
                mask.put(t.mask());
                types.put(t.types());
                for (int i = 0; i < pad; i++) {
                    ids.put(0L);
                    mask.put(0L);
                    types.put(0L);
                }
            }
            ids.flip();
            mask.flip();
            types.flip();
        }

        /** The output buffer, cleared and limited to {@code size} floats. */
        FloatBuffer output(int size) {
            if (output == null || output.capacity() < size) {
                output = ByteBuffer.allocateDirect(grown(size, Float.BYTES) * Float.BYTES)
                        .order(ByteOrder.nativeOrder()).asFloatBuffer();
            }
            output.clear().limit(size);
            return output;
        }

        private static LongBuffer longs(LongBuffer current, int size) {
            LongBuffer buffer = current != null && current.capacity() >= size ? current
                    : ByteBuffer.allocateDirect(grown(size, Long.BYTES) * Long.BYTES).order(ByteOrder.nativeOrder())
                            .asLongBuffer();
            buffer.clear();
            return buffer;
        }

        /**
         * Room for a somewhat larger call too, so that growing batches do not reallocate every time; never more
         * than a buffer of {@code bytes}-sized elements can hold (doubling past 2^28 floats would overflow the int).
         */
        private static int grown(int size, int bytes) {
            long doubled = Math.max(1024L, Long.highestOneBit(Math.max(1, size - 1)) << 1);
            return (int) Math.max(size, Math.min(doubled, Integer.MAX_VALUE / bytes));
        }
    }

    static void normalize(float[] v) {
        double norm = 0;
        for (float x : v) {
            norm += x * x;
        }
        norm = Math.sqrt(norm);
        if (norm > 1e-12) {
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (v[i] / norm);
            }
        }
    }

    /** Each label's prototype: the normalized mean of its example sentences' embeddings. */
    private float[][] prototypes(Map<String, List<String>> examples) throws ModelException {
        float[][] result = new float[labels.size()][];
        for (int l = 0; l < labels.size(); l++) {
            List<String> sentences = examples.get(labels.get(l));
            if (sentences == null || sentences.isEmpty()) {
                throw new ModelException("label " + labels.get(l) + " has no example sentences");
            }
            List<Tokens> rows = new ArrayList<>();
            for (String sentence : sentences) {
                rows.add(encoder.encode(sentence));
            }
            float[][] vectors = embed(rows);
            float[] mean = new float[hidden];
            for (float[] v : vectors) {
                for (int h = 0; h < hidden; h++) {
                    mean[h] += v[h];
                }
            }
            normalize(mean);
            result[l] = mean;
        }
        return result;
    }

    private Classification classifyOne(float[] vector) {
        double[] logits = new double[labels.size()];
        double max = Double.NEGATIVE_INFINITY;
        for (int l = 0; l < labels.size(); l++) {
            double cosine = 0;
            for (int h = 0; h < hidden; h++) {
                cosine += vector[h] * prototypes[l][h];
            }
            logits[l] = cosine / temperature;
            max = Math.max(max, logits[l]);
        }
        double total = 0;
        for (int l = 0; l < logits.length; l++) {
            logits[l] = Math.exp(logits[l] - max);
            total += logits[l];
        }
        Map<String, Float> scores = new LinkedHashMap<>();
        int best = 0;
        for (int l = 0; l < labels.size(); l++) {
            scores.put(labels.get(l), (float) (logits[l] / total));
            if (logits[l] > logits[best]) {
                best = l;
            }
        }
        return new Classification(labels.get(best), scores);
    }

    /** Model calls run on the single-threaded session so far (tests). */
    long singleThreadedRuns() {
        return session.singleThreadedRuns();
    }

    @Override
    public void close() {
        session.close();
        encoder.close();
    }

    private record Prepared(List<Tokens> tokens, int length, Object cacheKey) implements PreparedRequest {
        @Override
        public int items() {
            return tokens.size();
        }
    }
}
