package io.kinfer.worker.model;

import java.io.IOException;
import java.io.InputStream;
import java.util.Map;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;

/**
 * Tokenizes text with a Hugging Face tokenizer.json through DJL's Rust tokenizers. Always built from a stream: the
 * by-name form downloads from a hub, which cannot work offline. Padding is left to the batch, which pads to its
 * own longest row.
 */
final class TextEncoder implements AutoCloseable {

    private static final TokenizersLibrary NATIVE = TokenizersLibrary.LIB;
    /** [CLS] … [SEP]: what BERT-style models were trained with. */
    private static final boolean ADD_SPECIAL_TOKENS = true;

    private final HuggingFaceTokenizer tokenizer;
    private final int maxLength;

    TextEncoder(InputStream tokenizerJson, int maxLength) throws IOException {
        this.maxLength = maxLength;
        this.tokenizer = HuggingFaceTokenizer.newInstance(tokenizerJson, Map.of(
                "maxLength", Integer.toString(maxLength),
                "truncation", "true",
                "padding", "false",
                "addSpecialTokens", Boolean.toString(ADD_SPECIAL_TOKENS)));
    }

    /**
     * The three arrays a model takes, read straight from the native encoding. DJL's {@code encode} also copies out
     * every token's string, word id, sequence id, special-token mask and character span (about 10 JNI calls and
     * as many arrays) that kinfer never reads: 123-128 µs per 25-token text that way against 70-73 µs here, on the
     * consumer thread ({@code perf/Tokenize.java}, docs/PERFORMANCE.md). The tokenizer's own truncation and special
     * tokens apply as in DJL's.
     */
    Tokens encode(String text) {
        long encoding = NATIVE.encode(tokenizer.getHandle(), text, ADD_SPECIAL_TOKENS);
        try {
            return new Tokens(NATIVE.getTokenIds(encoding), NATIVE.getAttentionMask(encoding),
                    NATIVE.getTypeIds(encoding));
        } finally {
            NATIVE.deleteEncoding(encoding);
        }
    }

    /** The longest token sequence kept (special tokens included); longer texts are truncated. */
    int maxLength() {
        return maxLength;
    }

    /** DJL's own path, everything copied out; for tests that check {@link #encode} against it. */
    Tokens encodeThroughDjl(String text) {
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
