package io.kinfer.worker.model;

import java.util.List;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.ProtocolException;

/**
 * One model version, ready to run: one ONNX Runtime session plus its pre- and post-processing.
 * Both methods are thread-safe: {@link #prepare} runs on the consumer thread, {@link #infer} on as many batch
 * threads at once as the version has instances (ONNX Runtime sessions take concurrent runs).
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

    /**
     * Whether requests may share a model call, stacked along the first dimension; false for a model that runs each
     * request alone (Triton's {@code max_batch_size} 0), which then takes requests of any first dimension.
     */
    default boolean batches() {
        return true;
    }

    /** Refuses a batch size whose largest call this model could not run (its buffers would not fit). */
    default void checkMaxBatchSize(int maxBatchSize) throws ModelException {
    }

    @Override
    void close();
}
