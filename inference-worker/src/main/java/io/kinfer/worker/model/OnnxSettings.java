package io.kinfer.worker.model;

/**
 * ONNX Runtime session settings shared by every model a worker loads.
 *
 * @param intraOpThreads threads per model call; 0 lets ONNX Runtime use one per physical core
 * @param allowSpinning  whether idle ONNX Runtime threads spin; off by default, because spinning next to Kafka's
 *                       threads on a small machine made latency spread 3-4x (measured)
 */
public record OnnxSettings(int intraOpThreads, boolean allowSpinning) {

    public static final OnnxSettings DEFAULTS = new OnnxSettings(0, false);

    public OnnxSettings {
        if (intraOpThreads < 0) {
            throw new IllegalArgumentException("intraOpThreads must be >= 0");
        }
    }
}
