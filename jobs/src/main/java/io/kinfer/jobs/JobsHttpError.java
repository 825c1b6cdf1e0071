package io.kinfer.jobs;

/** A request refused before anything reaches Kafka, with its HTTP status and error code. */
final class JobsHttpError extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;

    JobsHttpError(int status, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
    }

    static JobsHttpError badRequest(String message) {
        return new JobsHttpError(400, "invalid_request", message);
    }

    Answer answer() {
        return Answer.error(status, code, getMessage());
    }

    int status() {
        return status;
    }
}
