package io.kinfer.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.util.List;

import io.kinfer.worker.model.TextEncoder.Tokens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The shipped MiniLM tokenizer through real DJL tokenizers: the direct native path against DJL's Encoding. */
class TextEncoderTest {

    private static final int MAX_LENGTH = 32;
    private static TextEncoder encoder;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream json = TextEncoderTest.class.getClassLoader()
                .getResourceAsStream("all-minilm-l6-v2-q-tokenizer.json")) {
            encoder = new TextEncoder(json, MAX_LENGTH);
        }
    }

    @AfterAll
    static void close() {
        encoder.close();
    }

    @Test
    void theDirectPathGivesDjlsIdsMaskAndTypes() {
        List<String> texts = List.of("Kafka is a log.", "", "   ", "Ünïcödé, emoji 🚀 and 中文字符 mixed in!",
                "don't stop-believing... #hashtag @user https://example.com/a?b=c",
                "word ".repeat(200)); // truncated to MAX_LENGTH
        for (String text : texts) {
            Tokens direct = encoder.encode(text);
            Tokens djl = encoder.encodeThroughDjl(text);

            assertThat(direct.ids()).as(text).containsExactly(djl.ids());
            assertThat(direct.mask()).as(text).containsExactly(djl.mask());
            assertThat(direct.types()).as(text).containsExactly(djl.types());
        }
    }

    @Test
    void specialTokensAreAddedAndLongTextsTruncated() {
        Tokens shortText = encoder.encode("Kafka is a log.");
        assertThat(shortText.ids()[0]).isEqualTo(101); // [CLS]
        assertThat(shortText.ids()[shortText.length() - 1]).isEqualTo(102); // [SEP]
        assertThat(shortText.mask()).containsOnly(1L);

        Tokens longText = encoder.encode("word ".repeat(200));
        assertThat(longText.length()).isEqualTo(MAX_LENGTH);
        assertThat(longText.ids()[MAX_LENGTH - 1]).isEqualTo(102);
    }
}
