package io.kinfer.worker.model;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;

/**
 * Tokenizes text with a Hugging Face tokenizer.json through DJL's Rust tokenizers. Always built from a stream: the
 * by-name form downloads from a hub, which cannot work offline. Padding is left to the batch, which pads to its
 * own longest row.
 */
final class TextEncoder implements AutoCloseable {

    private final HuggingFaceTokenizer tokenizer;

    TextEncoder(InputStream tokenizerJson, int maxLength) throws IOException {
        this.tokenizer = HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of(
                "maxLength", Integer.toString(maxLength),
                "truncation", "true",
                "padding", "false",
                "addSpecialTokens", "true"));
    }

    Tokens encode(String text) {
        Encoding encoding = tokenizer.encode(text);
        return new Tokens(encoding.getIds(), encoding.getAttentionMask(), encoding.getTypeIds());
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    /** One text's token ids, attention mask and token type ids, unpadded. */
    record Tokens(long[] ids, long[] mask, long[] types) {
        int length() {
            return ids.length;
        }
    }
}
