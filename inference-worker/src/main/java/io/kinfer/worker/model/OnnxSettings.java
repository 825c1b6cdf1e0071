package io.kinfer.worker.model;

/**
 * ONNX Runtime session settings shared by every model a worker loads.
 *
 * @param intraOpThreads threads per model call; 0: one per processor the JVM may use. (ONNX Runtime's own default
 *                       counts physical cores and chose a single thread on the 2-vCPU CI machine: 220 texts/s
 *                       there against 328 with two, measured with {@code kinfer perf ceiling}.)
 * @param allowSpinning  whether idle ONNX Runtime threads spin; off by default, because spinning next to Kafka's
 *                       threads on a small machine made latency spread 3-4x (measured)
 * @param singleThreadMaxTokens text model calls of at most this many padded tokens (rows × longest row) run on a
 *                       second, single-threaded session when the main one has several threads; 0: never
 */
public record OnnxSettings(int intraOpThreads, boolean allowSpinning, int singleThreadMaxTokens) {

    /**
     * A batch of one 64-token text, two of 32 or four of 16. Measured on 2 vCPUs with {@code perf/SessionThreads.java}
     * (docs/PERFORMANCE.md): one thread was 10-52 % faster than two for every call of up to 64 tokens, with calls
     * back to back or 2 ms apart; from 96 to 128 tokens between 14 % faster and 3 % slower, at 256 tokens 5-11 %
     * slower. A busy worker's batches are far larger than 64 tokens and keep all the threads.
     */
    public static final int DEFAULT_SINGLE_THREAD_MAX_TOKENS = 64;

    public static final OnnxSettings DEFAULTS = new OnnxSettings(0, false, DEFAULT_SINGLE_THREAD_MAX_TOKENS);

    public OnnxSettings(int intraOpThreads, boolean allowSpinning) {
        this(intraOpThreads, allowSpinning, DEFAULT_SINGLE_THREAD_MAX_TOKENS);
    }

    /**
     * Settings for a session that {@code instances} threads run at once: 0 threads divides the available
     * processors among them (at least one each), a positive count is kept.
     */
    public static OnnxSettings forInstances(int intraOpThreads, boolean allowSpinning, int singleThreadMaxTokens,
                                            int instances) {
        return new OnnxSettings(intraOpThreads > 0 ? intraOpThreads
                : Math.max(1, Runtime.getRuntime().availableProcessors() / instances), allowSpinning,
                singleThreadMaxTokens);
    }

    public int effectiveIntraOpThreads() {
        return intraOpThreads > 0 ? intraOpThreads : Runtime.getRuntime().availableProcessors();
    }

    public OnnxSettings {
        if (intraOpThreads < 0 || singleThreadMaxTokens < 0) {
            throw new IllegalArgumentException("intraOpThreads and singleThreadMaxTokens must be >= 0");
        }
    }
}
