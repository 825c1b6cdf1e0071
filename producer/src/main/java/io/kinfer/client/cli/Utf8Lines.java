package io.kinfer.client.cli;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.StandardCharsets;

/**
 * Lines of strict UTF-8, split at the byte level and decoded one at a time. A {@code BufferedReader} decodes 8 KiB
 * ahead, so a bad byte fails the lines before it too and says neither which line nor why; here it is reported
 * with its line number once every earlier line was returned. A line longer than the cap is skipped, not collected:
 * a line of gigabytes (a file without newlines) would otherwise end the process with an OutOfMemoryError.
 */
final class Utf8Lines implements Closeable {

    /** A line over the cap, skipped up to its end: the next {@link #readLine} returns the line after it. */
    static final class TooLong extends IOException {
        private static final long serialVersionUID = 1L;

        private final long line;

        TooLong(long line, long bytes, int maxBytes) {
            super("too large (" + bytes + " bytes; at most " + maxBytes + ")");
            this.line = line;
        }

        long line() {
            return line;
        }
    }

    private final InputStream in;
    private final int maxLineBytes;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder();
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private long number;

    Utf8Lines(InputStream in, int maxLineBytes) {
        this.in = new BufferedInputStream(in, 1 << 16);
        this.maxLineBytes = maxLineBytes;
    }

    /**
     * The next line without its end ({@code \n}, {@code \r\n} or {@code \r}, as BufferedReader); null at the end.
     * Throws {@link TooLong} for a line of more than the cap's bytes, after skipping it.
     */
    String readLine() throws IOException {
        line.reset();
        long bytes = 0;
        int b;
        while ((b = in.read()) >= 0 && b != '\n' && b != '\r') {
            if (++bytes <= maxLineBytes) {
                line.write(b);
            }
        }
        if (b == '\r') {
            in.mark(1);
            if (in.read() != '\n') {
                in.reset();
            }
        }
        if (b < 0 && bytes == 0) {
            return null;
        }
        number++;
        if (bytes > maxLineBytes) {
            throw new TooLong(number, bytes, maxLineBytes);
        }
        try {
            return decoder.decode(ByteBuffer.wrap(line.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw new IOException("line " + number + " is not UTF-8", e);
        }
    }

    /** The physical number of the line last read (blank ones count), from 1. */
    long lineNumber() {
        return number;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
