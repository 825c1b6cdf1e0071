package io.kinfer.protocol;

/**
 * Whether a text is blank to a model's tokenizer: made only of whitespace (also no-break spaces), control and
 * invisible format characters (zero-width space, joiners, BOM) and U+FFFD, which BERT-style tokenizers strip when
 * they clean a text. {@link String#isBlank()} passes "\u00a0" and "\u200b"; the worker would then refuse such a
 * text as {@code empty_input} after a Kafka round trip, with a dead letter. The gateway and the jobs API refuse it
 * up front with this.
 */
public final class BlankText {

    private BlankText() {
    }

    public static boolean isBlank(String text) {
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            if (!Character.isWhitespace(c) && !Character.isSpaceChar(c) && !Character.isISOControl(c)
                    && Character.getType(c) != Character.FORMAT && c != 0xFFFD) {
                return false;
            }
            i += Character.charCount(c);
        }
        return true;
    }
}
