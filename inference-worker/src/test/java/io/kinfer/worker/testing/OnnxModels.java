package io.kinfer.worker.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

/**
 * Writes tiny ONNX models for tests by encoding the ONNX protobuf directly (no binary fixtures, no onnx library):
 * a Gemm ({@code y = x·W + b}) and a bag-of-embeddings text model with BERT-like inputs, plus the word-level
 * tokenizer.json that goes with it.
 */
public final class OnnxModels {

    private static final int FLOAT = 1;
    private static final int INT64 = 7;
    private static final int INT32 = 6;

    private OnnxModels() {
    }

    /**
     * {@code y[N,outputs] = x[N,inputs] · W + b} with W[i][j] = (i + 1) * (j + 1) / 10 and b[j] = j, so expected
     * values are easy to compute in a test: see {@link #gemmExpected}.
     */
    public static byte[] gemm(int inputs, int outputs) {
        return gemm(inputs, outputs, "N");
    }

    /** batch: a Long fixes the first dimension, a String names it (any size). */
    private static byte[] gemm(int inputs, int outputs, Object batch) {
        float[] w = gemmWeights(inputs, outputs);
        float[] b = new float[outputs];
        for (int j = 0; j < outputs; j++) {
            b[j] = j;
        }
        Proto graph = new Proto()
                .message(1, node("Gemm", List.of("x", "W", "b"), List.of("y")))
                .string(2, "gemm")
                .message(5, floatTensor("W", new long[] {inputs, outputs}, w))
                .message(5, floatTensor("b", new long[] {outputs}, b))
                .message(11, valueInfo("x", FLOAT, new Object[] {batch, (long) inputs}))
                .message(12, valueInfo("y", FLOAT, new Object[] {batch, (long) outputs}));
        return model(graph);
    }

    /** {@link #gemm} with a fixed first dimension: every call takes exactly {@code batch} rows. */
    public static byte[] gemmFixedBatch(int inputs, int outputs, long batch) {
        return gemm(inputs, outputs, batch);
    }

    /** W[i][j] = (i + 1)(j + 1) / 10, row-major: the weights of {@link #gemm} and {@link #matMulAnyWidth}. */
    private static float[] gemmWeights(int inputs, int outputs) {
        float[] w = new float[inputs * outputs];
        for (int i = 0; i < inputs; i++) {
            for (int j = 0; j < outputs; j++) {
                w[i * outputs + j] = (i + 1) * (j + 1) / 10f;
            }
        }
        return w;
    }

    /** {@code y[N,1]} = the sum of each row of {@code x[N,L]}: a model whose second dimension is any size. */
    public static byte[] rowSum() {
        Proto graph = new Proto()
                .message(1, node("ReduceSum", List.of("x", "axes"), List.of("y")))
                .string(2, "row_sum")
                .message(5, int64Tensor("axes", new long[] {1}, new long[] {1}))
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", "L"}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"N", 1L}));
        return model(graph);
    }

    /**
     * {@code c[4]} = the sum over the rows of {@code x[N,4]}: an output with no batch dimension, whose every value
     * mixes all the rows a call holds (requests must not share a call).
     */
    public static byte[] columnSum() {
        Proto graph = new Proto()
                .message(1, node("ReduceSum", List.of("x", "axes"), List.of("c"), intAttribute("keepdims", 0)))
                .string(2, "column_sum")
                .message(5, int64Tensor("axes", new long[] {1}, new long[] {0}))
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", 4L}))
                .message(12, valueInfo("c", FLOAT, new Object[] {4L}));
        return model(graph);
    }

    /**
     * {@code y[2N,4]} = {@code x} stacked on itself: an output whose first dimension is not the batch, though its
     * shape says any size (as a detection model's list of boxes does).
     */
    public static byte[] stackedTwice() {
        Proto graph = new Proto()
                .message(1, node("Concat", List.of("x", "x"), List.of("y"), intAttribute("axis", 0)))
                .string(2, "stacked_twice")
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", 4L}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"M", 4L}));
        return model(graph);
    }

    /**
     * {@code y = x} for {@code x[N,4]}, its output declared {@code [1, 4]}: what an exporter writes for an output
     * when only the inputs were given a dynamic axis (the traced batch of 1). ONNX Runtime answers {@code [N, 4]}.
     */
    public static byte[] identityDeclaredBatchOfOne() {
        Proto graph = new Proto()
                .message(1, node("Identity", List.of("x"), List.of("y")))
                .string(2, "identity_batch_of_one")
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", 4L}))
                .message(12, valueInfo("y", FLOAT, new Object[] {1L, 4L}));
        return model(graph);
    }

    /**
     * {@code y[L]} = softmax over the whole of {@code x[L]}: a model that works across its first dimension, with
     * shapes that look batch-first (nothing but its config can say that requests must not share a call).
     */
    public static byte[] softmaxFirstAxis() {
        Proto graph = new Proto()
                .message(1, node("Softmax", List.of("x"), List.of("y")))
                .string(2, "softmax_first_axis")
                .message(11, valueInfo("x", FLOAT, new Object[] {"L"}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"L"}));
        return model(graph);
    }

    /**
     * {@code y[N,width] = x}, computed the slow way: {@code depth} MatMuls by the identity matrix, one after the
     * other (ONNX Runtime does not fold them away). A model whose every row costs real compute, for tests that need
     * a poll to outlast a deadline; a depth of 2000 at width 256 is tens of milliseconds a row.
     */
    public static byte[] slowIdentity(int width, int depth) {
        float[] identity = new float[width * width];
        for (int i = 0; i < width; i++) {
            identity[i * width + i] = 1f;
        }
        Proto graph = new Proto().string(2, "slow_identity");
        String previous = "x";
        for (int d = 0; d < depth; d++) {
            String next = d == depth - 1 ? "y" : "h" + d;
            graph.message(1, node("MatMul", List.of(previous, "I"), List.of(next)));
            previous = next;
        }
        graph.message(5, floatTensor("I", new long[] {width, width}, identity))
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", (long) width}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"N", (long) width}));
        return model(graph);
    }

    /**
     * {@link #slowIdentity} with at least {@code depth} MatMuls, and more where this machine computes one call on
     * {@code rows} rows faster than {@code perCall}: a test that needs a batch to outlast a deadline then holds on a
     * fast machine as on a slow one. A fixed depth did not: 60 rows that took 1.6 s on 2 vCPUs were done within the
     * 1.5 s a test needed them to outlast on a faster CI machine. The depth is a floor because the timing here can
     * only err one way that matters: measured while other processes share the cores, a call looks slower than it
     * will be, and the model would come out too fast.
     */
    public static byte[] slowIdentity(int width, int depth, int rows, Duration perCall) {
        int probeDepth = 10;
        long probeNanos = fastestCall(slowIdentity(width, probeDepth), width, rows);
        long needed = perCall.toNanos() * probeDepth / Math.max(1, probeNanos);
        return slowIdentity(width, (int) Math.max(depth, Math.min(needed, 100_000)));
    }

    /**
     * Whether the thread of that name is inside an ONNX Runtime call now: a batch that is computing, not merely
     * taken from the queue (with a record in flight and nothing queued alone, it could still be on its way in).
     */
    public static boolean inModelCall(String threadName) {
        return Thread.getAllStackTraces().entrySet().stream()
                .anyMatch(thread -> thread.getKey().getName().equals(threadName) && Arrays.stream(thread.getValue())
                        .anyMatch(frame -> frame.getClassName().equals("ai.onnxruntime.OrtSession")));
    }

    /** The fastest of three calls on {@code rows} rows of zeros, after one to warm up. */
    private static long fastestCall(byte[] model, int width, int rows) {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession session = env.createSession(model);
             OnnxTensor x = OnnxTensor.createTensor(env, FloatBuffer.allocate(rows * width), new long[] {rows, width})) {
            long fastest = Long.MAX_VALUE;
            for (int i = 0; i < 4; i++) {
                long start = System.nanoTime();
                try (OrtSession.Result ignored = session.run(Map.of("x", x))) {
                    if (i > 0) {
                        fastest = Math.min(fastest, System.nanoTime() - start);
                    }
                }
            }
            return fastest;
        } catch (OrtException e) {
            throw new IllegalStateException("timing the slow model", e);
        }
    }

    /**
     * {@code y[N,width] = E[idx]} for an INT64 index per row ({@code idx[N]}), with E[i][j] = 10 i + j: a lookup
     * table. An index outside 0 … rows − 1 makes ONNX Runtime fail the whole call it is in.
     */
    public static byte[] gather(int rows, int width) {
        float[] table = new float[rows * width];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < width; j++) {
                table[i * width + j] = 10f * i + j;
            }
        }
        Proto graph = new Proto()
                .message(1, node("Gather", List.of("E", "idx"), List.of("y")))
                .string(2, "gather")
                .message(5, floatTensor("E", new long[] {rows, width}, table))
                .message(11, valueInfo("idx", INT64, new Object[] {"N"}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"N", (long) width}));
        return model(graph);
    }

    /**
     * {@code y[N,outputs] = x · W} with W as in {@link #gemm}, but x declared {@code [N, L]}: any width passes the
     * worker's shape check, and a width other than {@code inputs} makes ONNX Runtime fail the call it is in.
     */
    public static byte[] matMulAnyWidth(int inputs, int outputs) {
        float[] w = gemmWeights(inputs, outputs);
        Proto graph = new Proto()
                .message(1, node("MatMul", List.of("x", "W"), List.of("y")))
                .string(2, "matmul_any_width")
                .message(5, floatTensor("W", new long[] {inputs, outputs}, w))
                .message(11, valueInfo("x", FLOAT, new Object[] {"N", "L"}))
                .message(12, valueInfo("y", FLOAT, new Object[] {"N", (long) outputs}));
        return model(graph);
    }

    /** What {@link #gemm} computes for one row. */
    public static float[] gemmExpected(float[] x, int outputs) {
        float[] y = new float[outputs];
        for (int j = 0; j < outputs; j++) {
            float sum = j;
            for (int i = 0; i < x.length; i++) {
                sum += x[i] * (i + 1) * (j + 1) / 10f;
            }
            y[j] = sum;
        }
        return y;
    }

    /**
     * A text model shaped like BERT: inputs {@code input_ids} and {@code attention_mask} (int64 [N, L]), output
     * {@code last_hidden_state} [N, L, hidden] = embedding[input_ids] * attention_mask. Word {@code i} of the vocab
     * has an embedding that is one-hot-ish in dimension {@code i % hidden}, so words that share a dimension are
     * similar and pooling can be checked by hand.
     */
    public static byte[] bagOfEmbeddings(int vocabSize, int hidden) {
        float[] table = embeddingTable(vocabSize, hidden);
        Proto graph = new Proto()
                .message(1, node("Gather", List.of("E", "input_ids"), List.of("emb")))
                .message(1, node("Cast", List.of("attention_mask"), List.of("mask_f"),
                        new Proto().string(1, "to").varint(20, 2).varint(3, FLOAT)))
                .message(1, node("Unsqueeze", List.of("mask_f", "axes"), List.of("mask_3d")))
                .message(1, node("Mul", List.of("emb", "mask_3d"), List.of("last_hidden_state")))
                .string(2, "bag_of_embeddings")
                .message(5, floatTensor("E", new long[] {vocabSize, hidden}, table))
                .message(5, int64Tensor("axes", new long[] {1}, new long[] {2}))
                .message(11, valueInfo("input_ids", INT64, new Object[] {"N", "L"}))
                .message(11, valueInfo("attention_mask", INT64, new Object[] {"N", "L"}))
                .message(12, valueInfo("last_hidden_state", FLOAT, new Object[] {"N", "L", (long) hidden}));
        return model(graph);
    }

    /** Word {@code v}'s embedding: 1 in dimension {@code v % hidden}, 0.1 in the next. */
    private static float[] embeddingTable(int vocabSize, int hidden) {
        float[] table = new float[vocabSize * hidden];
        for (int v = 0; v < vocabSize; v++) {
            table[v * hidden + (v % hidden)] = 1f;
            table[v * hidden + ((v + 1) % hidden)] = 0.1f;
        }
        return table;
    }

    /**
     * A text model without an attention mask: {@code input_ids} (int64 [N, L]) only, output [N, hidden] = the sum
     * over L of {@link #bagOfEmbeddings}' embeddings. Padding is word 0 to it, like any other, so a padded row's
     * answer differs from the row's alone.
     */
    public static byte[] idsOnlySum(int vocabSize, int hidden) {
        float[] table = embeddingTable(vocabSize, hidden);
        Proto graph = new Proto()
                .message(1, node("Gather", List.of("E", "input_ids"), List.of("emb")))
                .message(1, node("ReduceSum", List.of("emb", "axes"), List.of("pooled"),
                        new Proto().string(1, "keepdims").varint(3, 0).varint(20, 2)))
                .string(2, "ids_only_sum")
                .message(5, floatTensor("E", new long[] {vocabSize, hidden}, table))
                .message(5, int64Tensor("axes", new long[] {1}, new long[] {1}))
                .message(11, valueInfo("input_ids", INT64, new Object[] {"N", "L"}))
                .message(12, valueInfo("pooled", FLOAT, new Object[] {"N", (long) hidden}));
        return model(graph);
    }

    /** {@link #bagOfEmbeddings} without the mask, its {@code input_ids} int32 (as some exports declare them). */
    public static byte[] int32Ids(int vocabSize, int hidden) {
        float[] table = new float[vocabSize * hidden];
        for (int v = 0; v < vocabSize; v++) {
            table[v * hidden + (v % hidden)] = 1f;
        }
        Proto graph = new Proto()
                .message(1, node("Gather", List.of("E", "input_ids"), List.of("last_hidden_state")))
                .string(2, "int32_ids")
                .message(5, floatTensor("E", new long[] {vocabSize, hidden}, table))
                .message(11, valueInfo("input_ids", INT32, new Object[] {"N", "L"}))
                .message(12, valueInfo("last_hidden_state", FLOAT, new Object[] {"N", "L", (long) hidden}));
        return model(graph);
    }

    /** A Hugging Face tokenizer.json: lower-case, whitespace split, word-level vocab, [CLS] ... [SEP]. */
    public static String wordLevelTokenizer(List<String> words) {
        StringBuilder vocab = new StringBuilder("\"[PAD]\":0,\"[CLS]\":1,\"[SEP]\":2,\"[UNK]\":3");
        for (int i = 0; i < words.size(); i++) {
            vocab.append(",\"").append(words.get(i)).append("\":").append(i + 4);
        }
        return """
                {"version":"1.0","truncation":null,"padding":null,
                 "added_tokens":[%s,%s,%s,%s],
                 "normalizer":{"type":"Lowercase"},
                 "pre_tokenizer":{"type":"Whitespace"},
                 "post_processor":{"type":"TemplateProcessing",
                   "single":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}}],
                   "pair":[{"SpecialToken":{"id":"[CLS]","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"[SEP]","type_id":0}},{"Sequence":{"id":"B","type_id":1}},{"SpecialToken":{"id":"[SEP]","type_id":1}}],
                   "special_tokens":{"[CLS]":{"id":"[CLS]","ids":[1],"tokens":["[CLS]"]},"[SEP]":{"id":"[SEP]","ids":[2],"tokens":["[SEP]"]}}},
                 "decoder":null,
                 "model":{"type":"WordLevel","vocab":{%s},"unk_token":"[UNK]"}}
                """.formatted(special(0, "[PAD]"), special(1, "[CLS]"), special(2, "[SEP]"), special(3, "[UNK]"), vocab);
    }

    private static String special(int id, String content) {
        return "{\"id\":" + id + ",\"content\":\"" + content + "\",\"single_word\":false,\"lstrip\":false,"
                + "\"rstrip\":false,\"normalized\":false,\"special\":true}";
    }

    /**
     * Lays out a model repository version: {@code <repo>/<model>/<version>/model.onnx} and, when given,
     * {@code <repo>/<model>/config.json} and {@code <repo>/<model>/<version>/tokenizer.json}.
     */
    public static Path writeVersion(Path repo, String model, String version, byte[] onnx, String configJson,
                                    String tokenizerJson) {
        try {
            Path versionDir = Files.createDirectories(repo.resolve(model).resolve(version));
            if (configJson != null) {
                Files.writeString(repo.resolve(model).resolve("config.json"), configJson);
            }
            if (tokenizerJson != null) {
                Files.writeString(versionDir.resolve("tokenizer.json"), tokenizerJson);
            }
            // Write then move, so a watcher never sees half a file.
            Path tmp = Files.createTempFile(repo, "model", ".tmp");
            Files.write(tmp, onnx);
            Files.move(tmp, versionDir.resolve("model.onnx"), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return versionDir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------------------------- protobuf encoding

    private static byte[] model(Proto graph) {
        return new Proto()
                .varint(1, 8) // ir_version
                .string(2, "kinfer-tests")
                .message(7, graph)
                .message(8, new Proto().string(1, "").varint(2, 13)) // opset 13
                .bytes();
    }

    private static Proto node(String op, List<String> inputs, List<String> outputs, Proto... attributes) {
        Proto node = new Proto();
        inputs.forEach(i -> node.string(1, i));
        outputs.forEach(o -> node.string(2, o));
        node.string(3, op + "_" + outputs.get(0));
        node.string(4, op);
        for (Proto attribute : attributes) {
            node.message(5, attribute);
        }
        return node;
    }

    private static Proto intAttribute(String name, long value) {
        return new Proto().string(1, name).varint(3, value).varint(20, 2); // AttributeProto: name, i, type INT
    }

    private static Proto floatTensor(String name, long[] dims, float[] data) {
        Proto tensor = new Proto();
        for (long d : dims) {
            tensor.varint(1, d);
        }
        tensor.varint(2, FLOAT);
        tensor.string(8, name);
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (float f : data) {
            int bits = Float.floatToIntBits(f);
            raw.write(bits);
            raw.write(bits >>> 8);
            raw.write(bits >>> 16);
            raw.write(bits >>> 24);
        }
        return tensor.rawBytes(9, raw.toByteArray());
    }

    private static Proto int64Tensor(String name, long[] dims, long[] data) {
        Proto tensor = new Proto();
        for (long d : dims) {
            tensor.varint(1, d);
        }
        tensor.varint(2, INT64);
        tensor.string(8, name);
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (long v : data) {
            for (int shift = 0; shift < 64; shift += 8) {
                raw.write((int) (v >>> shift));
            }
        }
        return tensor.rawBytes(9, raw.toByteArray());
    }

    /** dims: a Long is a fixed size, a String a named (variable) dimension. */
    private static Proto valueInfo(String name, int elemType, Object[] dims) {
        Proto shape = new Proto();
        for (Object dim : dims) {
            shape.message(1, dim instanceof Long size ? new Proto().varint(1, size) : new Proto().string(2, (String) dim));
        }
        Proto tensorType = new Proto().varint(1, elemType).message(2, shape);
        return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
    }

    /** Just enough of the protobuf wire format: varints and length-delimited fields. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long value) {
            writeVarint((long) field << 3);
            writeVarint(value);
            return this;
        }

        Proto string(int field, String value) {
            return rawBytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto message) {
            return rawBytes(field, message.bytes());
        }

        Proto rawBytes(int field, byte[] value) {
            writeVarint(((long) field << 3) | 2);
            writeVarint(value.length);
            out.writeBytes(value);
            return this;
        }

        byte[] bytes() {
            return out.toByteArray();
        }

        private void writeVarint(long value) {
            while ((value & ~0x7FL) != 0) {
                out.write((int) ((value & 0x7F) | 0x80));
                value >>>= 7;
            }
            out.write((int) value);
        }
    }
}
