import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;

/**
 * One intra-op thread against several for model calls of each size: the measurement behind the worker's
 * {@code onnx.single.thread.max.tokens}. Loads the shipped int8 MiniLM twice (one session per thread count, the
 * worker's session options) and times calls of rows × tokens synthetic inputs on each, in blocks, three blocks per
 * session and size. {@code pause-ms} waits between calls, as a lightly loaded worker's calls are apart (0: back to
 * back, as a busy worker's are). Prints the P50 of each.
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/SessionThreads.java [calls-per-block] [pause-ms] [threads]</pre>
 */
public class SessionThreads {

    private static final int[][] SHAPES = {{1, 8}, {1, 16}, {1, 32}, {1, 48}, {1, 64}, {1, 96}, {2, 16}, {2, 32},
            {4, 16}, {4, 24}, {4, 32}, {8, 16}, {8, 32}};

    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        int pauseMs = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();
        byte[] model;
        try (var in = SessionThreads.class.getClassLoader().getResourceAsStream("all-minilm-l6-v2-q.onnx")) {
            model = in.readAllBytes();
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        OrtSession one = session(env, model, 1);
        OrtSession many = session(env, model, threads);
        Random random = new Random(1);
        System.out.printf("pause %d ms between calls, %d calls x 3 blocks per session and size%n", pauseMs, calls);
        for (int[] shape : SHAPES) {
            int cells = shape[0] * shape[1];
            long[] ids = new long[cells];
            long[] mask = new long[cells];
            for (int i = 0; i < cells; i++) {
                ids[i] = 1000 + random.nextInt(20_000);
                mask[i] = 1;
            }
            long[] dims = {shape[0], shape[1]};
            double[] single = new double[calls * 3];
            double[] multi = new double[calls * 3];
            for (int block = 0; block < 3; block++) {
                time(env, many, ids, mask, dims, multi, block * calls, calls, pauseMs);
                time(env, one, ids, mask, dims, single, block * calls, calls, pauseMs);
            }
            double p1 = median(single);
            double pn = median(multi);
            System.out.printf("rows %2d x %3d tokens = %4d: 1 thread %6.2f ms, %d threads %6.2f ms (1 thread %+.0f %%)%n",
                    shape[0], shape[1], cells, p1, threads, pn, (p1 / pn - 1) * 100);
        }
    }

    private static OrtSession session(OrtEnvironment env, byte[] model, int threads) throws Exception {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            options.setInterOpNumThreads(1);
            options.setIntraOpNumThreads(threads);
            options.addConfigEntry("session.intra_op.allow_spinning", "0");
            return env.createSession(model, options);
        }
    }

    private static void time(OrtEnvironment env, OrtSession session, long[] ids, long[] mask, long[] dims,
                             double[] into, int from, int calls, int pauseMs) throws Exception {
        long[] types = new long[ids.length];
        for (int c = 0; c < calls; c++) {
            Map<String, OnnxTensor> feeds = new HashMap<>();
            feeds.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), dims));
            feeds.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), dims));
            feeds.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(types), dims));
            long start = System.nanoTime();
            try (OrtSession.Result ignored = session.run(feeds)) {
                into[from + c] = (System.nanoTime() - start) / 1e6;
            }
            feeds.values().forEach(OnnxTensor::close);
            if (pauseMs > 0) {
                Thread.sleep(pauseMs);
            }
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
