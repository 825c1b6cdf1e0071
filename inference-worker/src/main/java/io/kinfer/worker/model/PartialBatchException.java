package io.kinfer.worker.model;

import java.util.BitSet;
import java.util.List;

import io.kinfer.protocol.Output;

/**
 * Part of a batch was computed and part failed: a batch that ran as several model calls (one per tensor shape)
 * keeps the calls that succeeded, so that the caller retries or fails only the requests of the calls that failed.
 */
public final class PartialBatchException extends ModelException {

    private static final long serialVersionUID = 1L;

    private final transient List<List<Output>> outputs;
    private final BitSet failedAlone;

    /**
     * @param outputs     each request's outputs, in batch order; null for a request whose call failed
     * @param failedAlone the requests whose call held no other request: their failure is their own
     */
    public PartialBatchException(String message, Throwable cause, List<List<Output>> outputs, BitSet failedAlone) {
        super(message, cause);
        this.outputs = outputs;
        this.failedAlone = failedAlone;
    }

    /** Each request's outputs, in batch order; null where its call failed. */
    public List<List<Output>> outputs() {
        return outputs;
    }

    /** Whether request {@code index} failed in a call of its own (no point in running it alone again). */
    public boolean failedAlone(int index) {
        return failedAlone.get(index);
    }
}
