package io.kinfer.worker.model;

/** The model failed while loading or computing; the whole batch it ran gets an {@code internal} error. */
public final class ModelException extends Exception {

    private static final long serialVersionUID = 1L;

    public ModelException(String message, Throwable cause) {
        super(message, cause);
    }

    public ModelException(String message) {
        super(message);
    }
}
