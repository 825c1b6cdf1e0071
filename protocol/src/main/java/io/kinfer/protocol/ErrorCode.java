package io.kinfer.protocol;

import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The closed set of error codes a reply can carry, each with the HTTP status the gateway answers with. The wire
 * name (snake case) is part of the protocol: new codes may be added in a minor version, none is ever renamed.
 */
public enum ErrorCode {
    /** The record is not JSON (or not UTF-8, or nested too deeply, or has trailing or duplicate content). */
    MALFORMED("malformed", 400),
    /** A required field or header is missing, or a field or header has the wrong type or value. */
    INVALID_REQUEST("invalid_request", 400),
    /** No inputs, or an empty text. */
    EMPTY_INPUT("empty_input", 400),
    /** The record, a text, the number of inputs or a tensor is above its documented limit. */
    INPUT_TOO_LARGE("input_too_large", 413),
    /** A tensor's name, datatype or shape does not match what the model takes. */
    INVALID_TENSOR("invalid_tensor", 400),
    /** No model of that name is served. */
    UNKNOWN_MODEL("unknown_model", 404),
    /** The model is served, but not that version. */
    UNKNOWN_VERSION("unknown_version", 404),
    /** The request's deadline passed before it was computed; it was not computed. */
    EXPIRED("expired", 504),
    /** The worker's queue for this model was full; retry later, ideally elsewhere. */
    OVERLOADED("overloaded", 429),
    /** The model cannot serve right now (failed to load, or the worker is stopping). */
    UNAVAILABLE("unavailable", 503),
    /** The model failed while computing the batch this request was in. */
    INTERNAL("internal", 500);

    private static final Map<String, ErrorCode> BY_WIRE_NAME = Arrays.stream(values())
            .collect(Collectors.toUnmodifiableMap(ErrorCode::wireName, Function.identity()));

    private final String wireName;
    private final int httpStatus;

    ErrorCode(String wireName, int httpStatus) {
        this.wireName = wireName;
        this.httpStatus = httpStatus;
    }

    /** The name on the wire, e.g. {@code unknown_model}. */
    public String wireName() {
        return wireName;
    }

    /** The HTTP status the gateway maps this code to. */
    public int httpStatus() {
        return httpStatus;
    }

    public static Optional<ErrorCode> fromWireName(String name) {
        return Optional.ofNullable(BY_WIRE_NAME.get(name));
    }
}
