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
        try (Utf8Lines reader = new Utf8Lines(new ByteArrayInputStream(input))) {
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
        try (Utf8Lines reader = new Utf8Lines(new ByteArrayInputStream(input))) {
            assertThat(reader.readLine()).isEqualTo("ok");
            assertThat(reader.readLine()).isEmpty();
            assertThatThrownBy(reader::readLine).isInstanceOf(IOException.class).hasMessage("line 3 is not UTF-8");
        }
    }
}
