package io.kinfer.worker.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

/**
 * A model's ONNX Runtime session with the worker's settings, and its input and output signatures.
 *
 * <p>With several intra-op threads and {@link OnnxSettings#singleThreadMaxTokens()} above zero it holds a second,
 * single-threaded session of the same model for small calls (see {@link #run(Map, Map, long)}): ONNX Runtime fixes
 * a session's thread count when it is made, and splitting a small call across threads costs more than it saves.
 */
final class OnnxSession implements AutoCloseable {

    private final OrtEnvironment env;
    private final OrtSession session;
    /** One intra-op thread, for calls of at most {@link #singleThreadMaxTokens} padded tokens; or null. */
    private final OrtSession singleThreaded;
    private final long singleThreadMaxTokens;
    private final Map<String, TensorInfo> inputs;
    private final Map<String, TensorInfo> outputs;
    private final LongAdder singleThreadedRuns = new LongAdder();

    private OnnxSession(OrtEnvironment env, OrtSession session, OrtSession singleThreaded, long singleThreadMaxTokens)
            throws OrtException {
        this.env = env;
        this.session = session;
        this.singleThreaded = singleThreaded;
        this.singleThreadMaxTokens = singleThreaded == null ? 0 : singleThreadMaxTokens;
        this.inputs = tensorInfos(session.getInputInfo());
        this.outputs = tensorInfos(session.getOutputInfo());
    }

    /**
     * @param smallCalls whether the caller passes token counts to {@link #run(Map, Map, long)}, so that a
     *                   single-threaded second session is worth making (text models); tensor models run on one
     */
    static OnnxSession create(byte[] model, OnnxSettings settings, boolean smallCalls) throws ModelException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int threads = settings.effectiveIntraOpThreads();
        OrtSession main = null;
        OrtSession single = null;
        try {
            main = session(env, model, threads, settings.allowSpinning());
            if (smallCalls && threads > 1 && settings.singleThreadMaxTokens() > 0) {
                single = session(env, model, 1, false);
            }
            return new OnnxSession(env, main, single, settings.singleThreadMaxTokens());
        } catch (OrtException | RuntimeException e) {
            for (OrtSession made : new OrtSession[] {main, single}) {
                if (made != null) {
                    closeQuietly(made);
                }
            }
            throw new ModelException("ONNX Runtime cannot load the model: " + e.getMessage(), e);
        }
    }

    private static OrtSession session(OrtEnvironment env, byte[] model, int threads, boolean spinning)
            throws OrtException {
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            options.setInterOpNumThreads(1);
            options.setIntraOpNumThreads(threads);
            options.addConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
            return env.createSession(model, options);
        }
    }

    OrtEnvironment env() {
        return env;
    }

    Map<String, TensorInfo> inputs() {
        return inputs;
    }

    Map<String, TensorInfo> outputs() {
        return outputs;
    }

    /** Runs the model; the caller closes the result and the input tensors. */
    OrtSession.Result run(Map<String, OnnxTensor> feeds) throws OrtException {
        return session.run(feeds);
    }

    /**
     * Runs the model writing the named outputs into tensors the caller made (and closes), not new ones. A call of
     * at most {@code singleThreadMaxTokens} padded tokens (rows × longest row) runs on the single-threaded session
     * where there is one: at such sizes handing work to the other threads and waiting for them at each operator's end
     * costs more than their share of it (one text of 32 tokens: 2.2-2.9 ms on one thread, 3.2-3.6 ms on two).
     */
    OrtSession.Result run(Map<String, OnnxTensor> feeds, Map<String, OnnxTensor> pinnedOutputs, long paddedTokens)
            throws OrtException {
        if (singleThreaded != null && paddedTokens <= singleThreadMaxTokens) {
            singleThreadedRuns.increment();
            return singleThreaded.run(feeds, pinnedOutputs);
        }
        return session.run(feeds, pinnedOutputs);
    }

    /** Calls run on the single-threaded session so far. */
    long singleThreadedRuns() {
        return singleThreadedRuns.sum();
    }

    @Override
    public void close() {
        closeQuietly(session);
        if (singleThreaded != null) {
            closeQuietly(singleThreaded);
        }
    }

    private static void closeQuietly(OrtSession session) {
        try {
            session.close();
        } catch (OrtException e) {
            // Closing a session only fails if it was closed already; nothing to recover.
        }
    }

    private static Map<String, TensorInfo> tensorInfos(Map<String, NodeInfo> nodes) throws OrtException {
        Map<String, TensorInfo> infos = new LinkedHashMap<>();
        for (Map.Entry<String, NodeInfo> node : nodes.entrySet()) {
            if (!(node.getValue().getInfo() instanceof TensorInfo info)) {
                throw new OrtException("input/output " + node.getKey() + " is not a tensor; only tensors are served");
            }
            infos.put(node.getKey(), info);
        }
        return infos;
    }
}
