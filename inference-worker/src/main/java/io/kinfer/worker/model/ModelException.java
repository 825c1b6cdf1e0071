package io.kinfer.worker.model;

/**
 * The model failed while loading or computing. A failed call of several requests is retried in parts, so that only
 * the requests that fail on their own get an {@code internal} error ({@link PartialBatchException}).
 */
public class ModelException extends Exception {

    private static final long serialVersionUID = 1L;

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }

    public ModelException(String message) {
        super(message);
    }
}
