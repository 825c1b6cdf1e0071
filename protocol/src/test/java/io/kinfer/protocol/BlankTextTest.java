package io.kinfer.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

class BlankTextTest {

    @Test
    void whatATokenizerStripsIsBlank() {
        for (String blank : List.of("", " ", "\t\n", "\u00a0", "\u200b", "\u2060", "\ufeff", "\u0000", "\u0007",
                "\ufffd", " \u00a0\u200b\ufffd ", "\u3000")) {
            assertThat(BlankText.isBlank(blank)).as("U+%04X...", blank.isEmpty() ? 0 : (int) blank.charAt(0)).isTrue();
        }
    }

    @Test
    void anyVisibleCharacterIsNot() {
        for (String text : List.of("a", " a ", "\u00a0ok", "\u200bé", "日本", "😀", "\u0301", ".")) {
            assertThat(BlankText.isBlank(text)).as(text).isFalse();
        }
    }
}
