package io.kinfer.protocol;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;

import org.junit.jupiter.api.Test;

/** A tensor model's inputs checked as a worker checks them, so a gateway can refuse a request before sending it. */
class ModelMetadataTest {

    private static final ModelMetadata MODEL = new ModelMetadata("m", "1", ModelMetadata.TENSOR, null,
            List.of(new TensorMetadata("x", DataType.FP32, new long[] {-1, 2}),
                    new TensorMetadata("ids", DataType.INT64, new long[] {-1, -1})),
            List.of(new TensorMetadata("y", DataType.FP32, new long[] {-1, 3})), null, 0, null);

    private static Tensor x(long... shape) {
        return Tensor.fp32("x", shape, new float[(int) Tensor.elementCount(shape)]);
    }

    private static Tensor ids(long... shape) {
        return Tensor.int64("ids", shape, new long[(int) Tensor.elementCount(shape)]);
    }

    @Test
    void inputsMatchingTheModelPassInAnyOrder() {
        assertThatCode(() -> MODEL.checkInputs(List.of(ids(3, 7), x(3, 2)))).doesNotThrowAnyException();
    }

    @Test
    void aFixedDimensionOfAnotherSizeIsRefused() {
        assertThatThrownBy(() -> MODEL.checkInputs(List.of(x(1, 3), ids(1, 1))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("input x has shape [1, 3]")
                .extracting(e -> ((ProtocolException) e).code()).isEqualTo(ErrorCode.INVALID_TENSOR);
    }

    @Test
    void anotherRankIsRefused() {
        assertThatThrownBy(() -> MODEL.checkInputs(List.of(x(1, 2, 1), ids(1, 1))))
                .hasMessageContaining("the model takes [-1, 2]");
    }

    @Test
    void aMissingAWrongTypedOrAnUnknownTensorIsRefused() {
        assertThatThrownBy(() -> MODEL.checkInputs(List.of(x(1, 2)))).hasMessageContaining("missing input tensor ids");
        assertThatThrownBy(() -> MODEL.checkInputs(List.of(x(1, 2), Tensor.fp32("ids", new long[] {1, 1},
                new float[1])))).hasMessageContaining("input ids must be INT64, not FP32");
        assertThatThrownBy(() -> MODEL.checkInputs(List.of(x(1, 2), ids(1, 1), Tensor.fp32("z", new long[] {1},
                new float[1])))).hasMessageContaining("unknown input tensor(s) [z]");
    }

    @Test
    void aFixedFirstDimensionMustBeMatched() {
        ModelMetadata fixed = new ModelMetadata("f", "1", ModelMetadata.TENSOR, null,
                List.of(new TensorMetadata("x", DataType.FP32, new long[] {1, 2})), List.of(), null, 0, null);

        assertThatCode(() -> fixed.checkInputs(List.of(x(1, 2)))).doesNotThrowAnyException();
        assertThatThrownBy(() -> fixed.checkInputs(List.of(x(2, 2)))).hasMessageContaining("has shape [2, 2]");
    }
}
