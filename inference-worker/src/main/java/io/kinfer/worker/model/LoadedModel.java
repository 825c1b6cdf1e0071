package io.kinfer.worker.model;

import java.util.List;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;

/**
 * One model version, ready to run: one ONNX Runtime session plus its pre- and post-processing.
 * {@link #prepare} is thread-safe; {@link #infer} is called by one batch thread at a time.
 */
public interface LoadedModel extends AutoCloseable {

    ModelMetadata metadata();

    /** Validates a request against this version and tokenizes or checks its inputs. */
    PreparedRequest prepare(InferenceRequest request) throws ProtocolException;

    /**
     * Runs one vectorized batch: one ONNX Runtime call for all the rows of all the requests. Returns each
     * request's outputs, in the order given.
     */
    List<List<Output>> infer(List<PreparedRequest> batch) throws ModelException;

    @Override
    void close();
}
