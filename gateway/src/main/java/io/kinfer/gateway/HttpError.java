package io.kinfer.gateway;

/** A request the gateway refuses before it reaches Kafka, with its HTTP status and error code. */
final class HttpError extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final int status;
    private final String code;

    HttpError(int status, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.code = code;
    }

    static HttpError badRequest(String message) {
        return new HttpError(400, "invalid_request", message);
    }

    static HttpError notFound(String message) {
        return new HttpError(404, "unknown_model", message);
    }

    int status() {
        return status;
    }

    String code() {
        return code;
    }
}
