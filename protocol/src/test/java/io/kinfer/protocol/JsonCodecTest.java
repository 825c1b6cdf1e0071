package io.kinfer.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class JsonCodecTest {

    private final JsonCodec codec = new JsonCodec(new ProtocolLimits(4096, 8, 50, 64, 16));

    @Test
    void textRequestRoundTrips() throws Exception {
        InferenceRequest request = InferenceRequest.ofTexts("r-1", "sentiment", List.of("I love it", "ünïcödé ✓"))
                .withVersion("2");

        InferenceRequest decoded = codec.decodeRequest(codec.encodeRequest(request));

        assertThat(decoded).isEqualTo(request);
        assertThat(decoded.itemCount()).isEqualTo(2);
    }

    @Test
    void tensorRequestRoundTrips() throws Exception {
        Tensor x = Tensor.fp32("x", new long[] {2, 3}, new float[] {1, 2, 3, 4.5f, -5, 6e-3f});
        Tensor ids = Tensor.int64("ids", new long[] {2, 1}, new long[] {Long.MAX_VALUE, -1});
        InferenceRequest request = InferenceRequest.ofTensors("r-2", "gemm", List.of(x, ids));

        InferenceRequest decoded = codec.decodeRequest(codec.encodeRequest(request));

        assertThat(decoded).isEqualTo(request);
        assertThat(decoded.itemCount()).isEqualTo(2);
    }

    @Test
    void nestedTensorDataIsFlattenedRowMajor() throws Exception {
        String json = """
                {"id":"n","model":"gemm","inputs":[{"name":"x","datatype":"FP32","shape":[2,2],"data":[[1,2],[3,4]]}]}
                """;

        InferenceRequest decoded = codec.decodeRequest(json.getBytes(StandardCharsets.UTF_8));

        assertThat(decoded.tensors().get(0).fp32()).containsExactly(1, 2, 3, 4);
    }

    @Test
    void dataNestedExactlyAsItsShapeIsAcceptedAtEveryRank() throws Exception {
        String json = """
                {"id":"n","model":"gemm","inputs":[{"name":"x","datatype":"INT64","shape":[2,1,3],
                 "data":[[[1,2,3]],[[4,5,6]]]},{"name":"e","datatype":"FP32","shape":[2,0],"data":[[],[]]}]}
                """;

        InferenceRequest decoded = codec.decodeRequest(json.getBytes(StandardCharsets.UTF_8));

        assertThat(decoded.tensors().get(0).int64()).containsExactly(1, 2, 3, 4, 5, 6);
        assertThat(decoded.tensors().get(1).fp32()).isEmpty();
    }

    @Test
    void fp32ValuesTooSmallForFp32RoundAsAnyDecimalDoes() throws Exception {
        InferenceRequest decoded = codec.decodeRequest(tensor("\"FP32\"", "[1,3]", "[1e-50,-1e-50,3.4028235e38]")
                .getBytes(StandardCharsets.UTF_8));

        assertThat(decoded.tensors().get(0).fp32()).containsExactly(0f, -0f, Float.MAX_VALUE);
    }

    @Test
    void aReplyStringInABytesTensorIsBoundedByTheRecordOnly() throws Exception {
        String text = "x".repeat(50_000);
        InferenceReply reply = InferenceReply.success("r", "m", "1",
                List.of(Tensor.bytes("y", new long[] {1}, List.of(text))), null);

        InferenceReply decoded = new JsonCodec(ProtocolLimits.REPLIES).decodeReply(codec.encodeReply(reply));

        assertThat(((Tensor) decoded.outputs().get(0)).bytes()).containsExactly(text);
    }

    static List<String> badReplies() {
        return List.of(
                "{\"id\":\"a\",\"outputs\":[{\"embedding\":[1,\"x\",{}]}]}",
                "{\"id\":\"a\",\"outputs\":[{\"embedding\":[1e39]}]}",
                "{\"id\":\"a\",\"outputs\":[{\"label\":null}]}",
                "{\"id\":\"a\",\"outputs\":[{\"label\":7}]}",
                "{\"id\":\"a\",\"outputs\":[{\"label\":\"p\",\"scores\":{\"p\":\"high\"}}]}",
                "{\"id\":\"a\",\"outputs\":[{\"label\":\"p\",\"scores\":[0.5]}]}",
                "{\"id\":\"a\",\"error\":\"boom\"}",
                "{\"id\":\"a\",\"error\":{\"message\":\"no code\"}}");
    }

    @ParameterizedTest
    @MethodSource("badReplies")
    void aReplyWithValuesOfTheWrongTypeIsRefusedNotCoerced(String json) {
        assertThatThrownBy(() -> codec.decodeReply(json.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(ProtocolException.class)
                .satisfies(e -> assertThat(e.getMessage()).isNotBlank().hasSizeLessThan(400));
    }

    @Test
    void unknownFieldsAreIgnoredAndNumericVersionIsAccepted() throws Exception {
        String json = """
                {"id":"a","model":"m","version":3,"inputs":["t"],"future_field":{"x":[1,2]},"priority":"ignored"}
                """;

        InferenceRequest decoded = codec.decodeRequest(json.getBytes(StandardCharsets.UTF_8));

        assertThat(decoded.version()).isEqualTo("3");
        assertThat(decoded.texts()).containsExactly("t");
    }

    @Test
    void successReplyRoundTripsEveryOutputKind() throws Exception {
        Map<String, Float> scores = new LinkedHashMap<>();
        scores.put("positive", 0.9f);
        scores.put("negative", 0.1f);
        InferenceReply reply = InferenceReply.success("r-1", "sentiment", "1",
                List.of(new Classification("positive", scores), new Embedding(new float[] {0.6f, 0.8f}),
                        Tensor.fp32("y", new long[] {1, 2}, new float[] {1, 2})),
                new Timings(1.25, 8.5, 4, "worker-1", false));

        InferenceReply decoded = codec.decodeReply(codec.encodeReply(reply));

        assertThat(decoded).isEqualTo(reply);
        assertThat(((Classification) decoded.outputs().get(0)).scores().keySet())
                .containsExactly("positive", "negative");
    }

    @Test
    void nanAndInfinityInAModelsOutputRoundTrip() throws Exception {
        float[] values = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1.5f};
        InferenceReply reply = InferenceReply.success("r-2", "m", "1",
                List.of(Tensor.fp32("y", new long[] {1, 4}, values), new Embedding(values)),
                new Timings(0, 0, 1, "w", false));

        InferenceReply decoded = codec.decodeReply(codec.encodeReply(reply));

        assertThat(((Tensor) decoded.outputs().get(0)).fp32()).containsExactly(values);
        assertThat(((Embedding) decoded.outputs().get(1)).vector()).containsExactly(values);
        InferenceRequest request = codec.decodeRequest(("{\"id\":\"n\",\"model\":\"m\",\"inputs\":[{\"name\":\"x\","
                + "\"datatype\":\"FP32\",\"shape\":[3],\"data\":[\"NaN\",\"-Infinity\",2]}]}").getBytes(StandardCharsets.UTF_8));
        assertThat(request.tensors().get(0).fp32()).containsExactly(Float.NaN, Float.NEGATIVE_INFINITY, 2f);
    }

    @Test
    void errorReplyRoundTripsAndUnknownCodesDegradeToInternal() throws Exception {
        InferenceReply reply = InferenceReply.failure("r-9", "sentiment", ErrorCode.EXPIRED, "deadline passed");
        assertThat(codec.decodeReply(codec.encodeReply(reply))).isEqualTo(reply);
        String json = new String(codec.encodeReply(reply), StandardCharsets.UTF_8);
        assertThat(json).contains("\"error\":{\"code\":\"expired\"");

        InferenceReply future = codec.decodeReply("""
                {"id":"x","model":"m","error":{"code":"brand_new_code","message":"m"}}
                """.getBytes(StandardCharsets.UTF_8));
        assertThat(future.error().code()).isEqualTo(ErrorCode.INTERNAL);
        assertThat(future.error().message()).contains("brand_new_code");
    }

    static List<Arguments> badRequests() {
        String deep = "[".repeat(40) + "]".repeat(40);
        String longText = "x".repeat(51);
        return List.of(
                Arguments.of("empty record", "", ErrorCode.MALFORMED),
                Arguments.of("not json", "hello", ErrorCode.MALFORMED),
                Arguments.of("truncated json", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"t\"", ErrorCode.MALFORMED),
                Arguments.of("trailing tokens", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"t\"]} {}", ErrorCode.MALFORMED),
                Arguments.of("duplicate keys", "{\"id\":\"a\",\"id\":\"b\",\"model\":\"m\",\"inputs\":[\"t\"]}", ErrorCode.MALFORMED),
                Arguments.of("bare NaN", tensor("\"FP32\"", "[1,2]", "[NaN,1]"), ErrorCode.MALFORMED),
                Arguments.of("a comment", "// c\n{}", ErrorCode.MALFORMED),
                Arguments.of("a long number", "{\"id\":" + "1".repeat(70) + "}", ErrorCode.MALFORMED),
                Arguments.of("deep nesting", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":" + deep + "}", ErrorCode.MALFORMED),
                Arguments.of("array root", "[1,2]", ErrorCode.INVALID_REQUEST),
                Arguments.of("missing id", "{\"model\":\"m\",\"inputs\":[\"t\"]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("numeric id", "{\"id\":5,\"model\":\"m\",\"inputs\":[\"t\"]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("missing model", "{\"id\":\"a\",\"inputs\":[\"t\"]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("model with slash", "{\"id\":\"a\",\"model\":\"../x\",\"inputs\":[\"t\"]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("missing inputs", "{\"id\":\"a\",\"model\":\"m\"}", ErrorCode.INVALID_REQUEST),
                Arguments.of("inputs not array", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":\"t\"}", ErrorCode.INVALID_REQUEST),
                Arguments.of("inputs of numbers", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[1,2]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("mixed inputs", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"t\",3]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("bad version", "{\"id\":\"a\",\"model\":\"m\",\"version\":[1],\"inputs\":[\"t\"]}", ErrorCode.INVALID_REQUEST),
                Arguments.of("empty inputs", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[]}", ErrorCode.EMPTY_INPUT),
                Arguments.of("blank text", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"  \"]}", ErrorCode.EMPTY_INPUT),
                Arguments.of("too many texts", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}", ErrorCode.INPUT_TOO_LARGE),
                Arguments.of("text too long", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"" + longText + "\"]}", ErrorCode.INPUT_TOO_LARGE),
                Arguments.of("record too large", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"" + "y".repeat(5000) + "\"]}", ErrorCode.INPUT_TOO_LARGE),
                Arguments.of("unsupported datatype", tensor("\"FP16\"", "[1,1]", "[1]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("missing datatype", tensor("null", "[1,1]", "[1]"), ErrorCode.INVALID_REQUEST),
                Arguments.of("negative dim", tensor("\"FP32\"", "[1,-1]", "[1]"), ErrorCode.INVALID_REQUEST),
                Arguments.of("data count mismatch", tensor("\"FP32\"", "[1,3]", "[1,2]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("string in FP32", tensor("\"FP32\"", "[1,2]", "[1,\"2\"]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("fraction in INT64", tensor("\"INT64\"", "[1,2]", "[1,2.5]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("too many elements", tensor("\"FP32\"", "[1,1000]", "[1]"), ErrorCode.INPUT_TOO_LARGE),
                Arguments.of("scalar tensor", tensor("\"FP32\"", "[]", "[1]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("zero batch", tensor("\"FP32\"", "[0,2]", "[]"), ErrorCode.EMPTY_INPUT),
                Arguments.of("batch mismatch", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":["
                        + "{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[1]},"
                        + "{\"name\":\"b\",\"datatype\":\"FP32\",\"shape\":[2,1],\"data\":[1,2]}]}", ErrorCode.INVALID_TENSOR),
                Arguments.of("duplicate tensor", "{\"id\":\"a\",\"model\":\"m\",\"inputs\":["
                        + "{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[1]},"
                        + "{\"name\":\"a\",\"datatype\":\"FP32\",\"shape\":[1,1],\"data\":[1]}]}", ErrorCode.INVALID_TENSOR),
                Arguments.of("FP32 above its range", tensor("\"FP32\"", "[1,2]", "[1,1e39]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("FP32 below its range", tensor("\"FP32\"", "[1,1]", "[-3.5e38]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("FP32 integer literal above its range", tensor("\"FP32\"", "[1,1]", "[" + "9".repeat(40) + "]"),
                        ErrorCode.INVALID_TENSOR),
                Arguments.of("ragged nested data", tensor("\"FP32\"", "[2,2]", "[[1,2,3],[4]]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("nested data with a row too few", tensor("\"FP32\"", "[3,2]", "[[1,2],[3,4],5,6]"),
                        ErrorCode.INVALID_TENSOR),
                Arguments.of("nested deeper than the shape", tensor("\"FP32\"", "[1,2]", "[[[1,2]]]"), ErrorCode.INVALID_TENSOR),
                Arguments.of("nested along the wrong dimensions", tensor("\"FP32\"", "[1,4]", "[[1,2],[3,4]]"),
                        ErrorCode.INVALID_TENSOR),
                Arguments.of("BYTES string over the text limit", tensor("\"BYTES\"", "[1]", "[\"" + longText + "\"]"),
                        ErrorCode.INPUT_TOO_LARGE));
    }

    private static String tensor(String datatype, String shape, String data) {
        return "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[{\"name\":\"x\",\"datatype\":" + datatype + ",\"shape\":"
                + shape + ",\"data\":" + data + "}]}";
    }

    @ParameterizedTest(name = "{0} -> {2}")
    @MethodSource("badRequests")
    void badRequestsGetASpecificCode(String description, String json, ErrorCode expected) {
        assertThatThrownBy(() -> codec.decodeRequest(json.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOf(ProtocolException.class)
                .satisfies(e -> assertThat(((ProtocolException) e).code()).isEqualTo(expected))
                .satisfies(e -> assertThat(e.getMessage()).isNotBlank().doesNotContain("Exception").hasSizeLessThan(400)
                        // Nothing of the parser's insides: Java types and settings the caller cannot see or set.
                        .doesNotContain("`", "jackson", "Feature", "REDACTED", "JsonNode"));
    }

    @Test
    void badJsonIsExplainedWithWhereItWentWrongAndNoParserInsides() {
        assertThatThrownBy(() -> codec.decodeRequest("{\"id\":\"a\"} {}".getBytes(StandardCharsets.UTF_8)))
                .hasMessage("not valid JSON: Trailing token (of type START_OBJECT) found after value (line 1, column 12)");
        assertThatThrownBy(() -> codec.decodeRequest("{\"id\":\"a\"".getBytes(StandardCharsets.UTF_8)))
                .hasMessage("not valid JSON: Unexpected end-of-input: expected close marker for Object (start marker "
                        + "at [line: 1, column: 1]) (line 1, column 10)");
        // Python's json.dumps writes NaN bare: the caller is told what to send instead.
        assertThatThrownBy(() -> codec.decodeRequest(tensor("\"FP32\"", "[1,2]", "[NaN,1]")
                .getBytes(StandardCharsets.UTF_8))).hasMessage("not valid JSON: Non-standard token 'NaN'; JSON has no "
                + "NaN or infinity: send them as the strings \"NaN\", \"Infinity\", \"-Infinity\" (line 1, column 88)");
        // A long bad token is shortened, and where it is still said.
        assertThatThrownBy(() -> codec.decodeRequest(("{\"id\":" + "x".repeat(300) + "}")
                .getBytes(StandardCharsets.UTF_8))).hasMessageStartingWith("not valid JSON: Unrecognized token 'xxx")
                .hasMessageEndingWith("... (line 1, column 7)");
        assertThatThrownBy(() -> codec.decodeRequest(("{\"id\":\"a\",\"model\":\"m\",\"inputs\":"
                + "[".repeat(70) + "]".repeat(70) + "}").getBytes(StandardCharsets.UTF_8)))
                .hasMessage("JSON exceeds a limit: Document nesting depth (17) exceeds the maximum allowed (16)");
    }

    @Test
    void aShapeOverTheElementLimitSaysWhatItDeclares() {
        assertThatThrownBy(() -> codec.decodeRequest(tensor("\"FP32\"", "[1,300000]", "[]")
                .getBytes(StandardCharsets.UTF_8)))
                .hasMessage("inputs[0].shape [1, 300000] declares 300000 elements; at most 64");
        assertThatThrownBy(() -> codec.decodeRequest(tensor("\"FP32\"", "[4294967296,4294967296]", "[]")
                .getBytes(StandardCharsets.UTF_8)))
                .hasMessage("inputs[0].shape [4294967296, 4294967296] declares more elements than a 64-bit count "
                        + "holds; at most 64");
    }

    @Test
    void aBadFp32ElementIsNamedWithWhatIsWrongWithIt() {
        assertThatThrownBy(() -> codec.decodeRequest(tensor("\"FP32\"", "[1,3]", "[1,\"NaN\",1e39]")
                .getBytes(StandardCharsets.UTF_8))).hasMessage("inputs[0].data[2] is outside the FP32 range "
                + "(magnitude at most " + Float.MAX_VALUE + ")");
        assertThatThrownBy(() -> codec.decodeRequest(tensor("\"FP32\"", "[1,2]", "[\"Infinity\",\"inf\"]")
                .getBytes(StandardCharsets.UTF_8))).hasMessage("inputs[0].data[1] is not a number");
        assertThatThrownBy(() -> new JsonCodec(ProtocolLimits.REPLIES).decodeReply(
                "{\"id\":\"a\",\"outputs\":[{\"label\":\"p\",\"scores\":{\"p\":\"high\"}}]}"
                        .getBytes(StandardCharsets.UTF_8))).hasMessageEndingWith(".scores.p is not a number");
    }

    @Test
    void invalidUtf8IsMalformed() {
        byte[] bytes = "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"X\"]}".getBytes(StandardCharsets.UTF_8);
        bytes[bytes.length - 4] = (byte) 0xC3; // a lead byte followed by '"' is not UTF-8
        assertThatThrownBy(() -> codec.decodeRequest(bytes))
                .isInstanceOfSatisfying(ProtocolException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.MALFORMED));
    }

    @ParameterizedTest
    @ValueSource(strings = {"UTF-16LE", "UTF-16BE", "UTF-16", "UTF-32LE", "UTF-32BE"})
    void jsonInAnotherUnicodeEncodingIsMalformed(String charset) {
        byte[] bytes = "{\"id\":\"a\",\"model\":\"m\",\"inputs\":[\"X\"]}".getBytes(Charset.forName(charset));
        assertThatThrownBy(() -> codec.decodeRequest(bytes))
                .isInstanceOfSatisfying(ProtocolException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.MALFORMED);
                    assertThat(e.getMessage()).contains("not UTF-8");
                });
    }

    @Test
    void randomBytesNeverThrowAnUncheckedException() {
        java.util.Random random = new java.util.Random(42);
        for (int i = 0; i < 2_000; i++) {
            byte[] bytes = new byte[random.nextInt(200)];
            random.nextBytes(bytes);
            try {
                codec.decodeRequest(bytes);
            } catch (ProtocolException expected) {
                assertThat(expected.code()).isNotNull();
            }
        }
    }

    @Test
    void echoedInputInMessagesIsShortened() {
        String json = tensor("\"" + "Z".repeat(3000) + "\"", "[1,1]", "[1]");
        assertThatThrownBy(() -> codec.decodeRequest(json.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(ProtocolException.class,
                        e -> assertThat(e.getMessage()).hasSizeLessThan(300).contains("..."));
    }
}
