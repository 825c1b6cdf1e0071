package io.kinfer.protocol;

import java.util.List;
import java.util.Objects;

/**
 * The answer to one request: its outputs, or an error from the closed set, plus where the time went.
 * {@code version} is the version that computed it (null when the request failed before a version was chosen);
 * {@code timings} may be null for errors raised before the worker queued the request.
 */
public record InferenceReply(String id, String model, String version, List<Output> outputs, ErrorInfo error,
                             Timings timings) {

    public InferenceReply {
        Objects.requireNonNull(id, "id");
        model = model == null ? "" : model;
        outputs = outputs == null ? List.of() : List.copyOf(outputs);
        if (error != null && !outputs.isEmpty()) {
            throw new IllegalArgumentException("a reply holds outputs or an error, not both");
        }
    }

    public static InferenceReply success(String id, String model, String version, List<Output> outputs,
                                         Timings timings) {
        return new InferenceReply(id, model, version, outputs, null, timings);
    }

    public static InferenceReply failure(String id, String model, String version, ErrorInfo error, Timings timings) {
        return new InferenceReply(id, model, version, List.of(), Objects.requireNonNull(error, "error"), timings);
    }

    public static InferenceReply failure(String id, String model, ErrorCode code, String message) {
        return failure(id, model, null, new ErrorInfo(code, message), null);
    }

    public boolean isSuccess() {
        return error == null;
    }
}
