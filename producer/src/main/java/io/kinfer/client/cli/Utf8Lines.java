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
 * with its line number once every earlier line was returned.
 */
final class Utf8Lines implements Closeable {

    private final InputStream in;
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder();
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private long number;

    Utf8Lines(InputStream in) {
        this.in = new BufferedInputStream(in, 1 << 16);
    }

    /** The next line without its end ({@code \n}, {@code \r\n} or {@code \r}, as BufferedReader); null at the end. */
    String readLine() throws IOException {
        line.reset();
        int b;
        while ((b = in.read()) >= 0 && b != '\n' && b != '\r') {
            line.write(b);
        }
        if (b == '\r') {
            in.mark(1);
            if (in.read() != '\n') {
                in.reset();
            }
        }
        if (b < 0 && line.size() == 0) {
            return null;
        }
        number++;
        try {
            return decoder.decode(ByteBuffer.wrap(line.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw new IOException("line " + number + " is not UTF-8", e);
        }
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
