package io.kinfer.worker.model;

/**
 * ONNX Runtime session settings shared by every model a worker loads.
 *
 * @param intraOpThreads threads per model call; 0: one per processor the JVM may use. (ONNX Runtime's own default
 *                       counts physical cores and chose a single thread on the 2-vCPU CI machine: 220 texts/s
 *                       there against 328 with two, measured with {@code kinfer perf ceiling}.)
 * @param allowSpinning  whether idle ONNX Runtime threads spin; off by default, because spinning next to Kafka's
 *                       threads on a small machine made latency spread 3-4x (measured)
 */
public record OnnxSettings(int intraOpThreads, boolean allowSpinning) {

    public static final OnnxSettings DEFAULTS = new OnnxSettings(0, false);

    /**
     * Settings for a session that {@code instances} threads run at once: 0 threads divides the available
     * processors among them (at least one each), a positive count is kept.
     */
    public static OnnxSettings forInstances(int intraOpThreads, boolean allowSpinning, int instances) {
        return new OnnxSettings(intraOpThreads > 0 ? intraOpThreads
                : Math.max(1, Runtime.getRuntime().availableProcessors() / instances), allowSpinning);
    }

    public int effectiveIntraOpThreads() {
        return intraOpThreads > 0 ? intraOpThreads : Runtime.getRuntime().availableProcessors();
    }

    public OnnxSettings {
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intraOpThreads must be >= 0");
        }
    }
}
