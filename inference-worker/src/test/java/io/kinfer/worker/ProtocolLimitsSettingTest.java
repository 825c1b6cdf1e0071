package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Map;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolException;
import org.junit.jupiter.api.Test;

/** A tensor model with large inputs (an image) needs more than the default 262 144 elements a tensor may have. */
class ProtocolLimitsSettingTest {

    private static byte[] requestWithElements(int count) {
        StringBuilder json = new StringBuilder("{\"id\":\"big\",\"model\":\"image\",\"inputs\":[{\"name\":\"x\","
                + "\"datatype\":\"FP32\",\"shape\":[1," + count + "],\"data\":[");
        for (int i = 0; i < count; i++) {
            json.append(i == 0 ? "0" : ",0");
        }
        return json.append("]}]}").toString().getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void theTensorElementLimitIsASetting() throws Exception {
        byte[] image = requestWithElements(3 * 256 * 512);
        JsonCodec defaults = new JsonCodec(new WorkerConfig(Map.of(WorkerConfig.MODELS, "image")).protocolLimits());
        assertThatThrownBy(() -> defaults.decodeRequest(image)).isInstanceOfSatisfying(ProtocolException.class,
                e -> assertThat(e.code()).isEqualTo(ErrorCode.INPUT_TOO_LARGE));

        JsonCodec raised = new JsonCodec(new WorkerConfig(Map.of(WorkerConfig.MODELS, "image",
                WorkerConfig.MAX_TENSOR_ELEMENTS, "1000000", WorkerConfig.MAX_RECORD_BYTES, "4194304"))
                .protocolLimits());
        assertThat(raised.decodeRequest(image).tensors().get(0).fp32()).hasSize(3 * 256 * 512);
    }
}
