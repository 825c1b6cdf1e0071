package io.kinfer.worker.model;

import java.util.LinkedHashMap;
import java.util.Map;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

/** One ONNX Runtime session with the worker's settings, and its input and output signatures. */
final class OnnxSession implements AutoCloseable {

    private final OrtEnvironment env;
    private final OrtSession session;
    private final Map<String, TensorInfo> inputs;
    private final Map<String, TensorInfo> outputs;

    private OnnxSession(OrtEnvironment env, OrtSession session) throws OrtException {
        this.env = env;
        this.session = session;
        this.inputs = tensorInfos(session.getInputInfo());
        this.outputs = tensorInfos(session.getOutputInfo());
    }

    static OnnxSession create(byte[] model, OnnxSettings settings) throws ModelException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            options.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            options.setInterOpNumThreads(1);
            options.setIntraOpNumThreads(settings.effectiveIntraOpThreads());
            options.addConfigEntry("session.intra_op.allow_spinning", settings.allowSpinning() ? "1" : "0");
            return new OnnxSession(env, env.createSession(model, options));
        } catch (OrtException e) {
            throw new ModelException("ONNX Runtime cannot load the model: " + e.getMessage(), e);
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

    /** Runs the model writing the named outputs into tensors the caller made (and closes), not new ones. */
    OrtSession.Result run(Map<String, OnnxTensor> feeds, Map<String, OnnxTensor> pinnedOutputs) throws OrtException {
        return session.run(feeds, pinnedOutputs);
    }

    @Override
    public void close() {
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
