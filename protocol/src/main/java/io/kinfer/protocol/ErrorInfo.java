package io.kinfer.protocol;

import java.util.Objects;

/** The {@code error} object of a reply: a code from the closed set and a message for humans. */
public record ErrorInfo(ErrorCode code, String message) {
    public ErrorInfo {
        Objects.requireNonNull(code, "code");
        message = message == null ? "" : message;
    }
}
