package io.kinfer.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.junit.jupiter.api.Test;

class AnnouncementCodecTest {

    private final JsonCodec codec = new JsonCodec();

    @Test
    void announcementRoundTripsWithMetadata() throws Exception {
        ModelMetadata sentiment = new ModelMetadata("sentiment", "1", ModelMetadata.TEXT, "classify",
                List.of(new TensorMetadata("text", DataType.BYTES, new long[] {-1})),
                List.of(new TensorMetadata("label", DataType.BYTES, new long[] {-1}),
                        new TensorMetadata("scores", DataType.FP32, new long[] {-1, 2})),
                List.of("positive", "negative"), 32, "demo");
        ModelAnnouncement announcement = new ModelAnnouncement("sentiment", "w-1", 1_000L, 5_000L, List.of(sentiment),
                java.util.Map.of("queue_depth", 3.0, "batches_total", 120.0));

        ModelAnnouncement decoded = codec.decodeAnnouncement(codec.encodeAnnouncement(announcement));

        assertThat(decoded).isEqualTo(announcement);
        assertThat(decoded.key()).isEqualTo("sentiment/w-1");
        assertThat(decoded.aliveAt(16_000L)).isTrue();
        assertThat(decoded.aliveAt(16_001L)).isFalse();
    }
}
