package io.kinfer.protocol;

/**
 * A record or header that breaks the protocol, with the specific {@link ErrorCode} to answer it with. Checked on
 * purpose: every decoder caller must decide what to reply.
 */
public final class ProtocolException extends Exception {

    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public ProtocolException(ErrorCode code, String message) {
        super(message);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }

    /** The error as it goes into a reply. The message never holds a stack trace or an internal address. */
    public ErrorInfo toErrorInfo() {
        return new ErrorInfo(code, getMessage());
    }
}
