package io.kinfer.client.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

class Utf8LinesTest {

    private static List<String> lines(byte[] input) throws IOException {
        List<String> lines = new ArrayList<>();
        try (Utf8Lines reader = new Utf8Lines(new ByteArrayInputStream(input), 1 << 20)) {
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                lines.add(line);
            }
        }
        return lines;
    }

    @Test
    void everyLineEndingBufferedReaderKnowsEndsALine() throws IOException {
        assertThat(lines("a\nb\r\nc\rd".getBytes(StandardCharsets.UTF_8))).containsExactly("a", "b", "c", "d");
        assertThat(lines("é\n\n€\r".getBytes(StandardCharsets.UTF_8))).containsExactly("é", "", "€");
        assertThat(lines(new byte[0])).isEmpty();
    }

    @Test
    void aBadByteIsReportedWithItsLineAfterTheLinesBeforeIt() throws IOException {
        byte[] input = {'o', 'k', '\n', '\n', 'x', (byte) 0xC3, '\n', 'n', 'o'};
        try (Utf8Lines reader = new Utf8Lines(new ByteArrayInputStream(input), 1 << 20)) {
            assertThat(reader.readLine()).isEqualTo("ok");
            assertThat(reader.readLine()).isEmpty();
            assertThatThrownBy(reader::readLine).isInstanceOf(IOException.class).hasMessage("line 3 is not UTF-8");
        }
    }

    @Test
    void aLineOverTheCapIsSkippedToItsEndWithoutBeingCollected() throws IOException {
        // Before, every byte of a line was kept: a file without newlines ended the process out of memory.
        byte[] input = ("ok\n" + "x".repeat(10) + "\r\n" + "y".repeat(1000) + "\nfits\n" + "z".repeat(9))
                .getBytes(StandardCharsets.UTF_8);
        try (Utf8Lines reader = new Utf8Lines(new ByteArrayInputStream(input), 9)) {
            assertThat(reader.readLine()).isEqualTo("ok");
            assertThatThrownBy(reader::readLine).isInstanceOf(Utf8Lines.TooLong.class)
                    .hasMessage("too large (10 bytes; at most 9)").extracting(e -> ((Utf8Lines.TooLong) e).line())
                    .isEqualTo(2L);
            assertThatThrownBy(reader::readLine).isInstanceOf(Utf8Lines.TooLong.class)
                    .hasMessage("too large (1000 bytes; at most 9)");
            assertThat(reader.readLine()).isEqualTo("fits");
            assertThat(reader.readLine()).as("exactly the cap").isEqualTo("z".repeat(9));
            assertThat(reader.readLine()).isNull();
            assertThat(reader.lineNumber()).isEqualTo(5);
        }
    }
}
