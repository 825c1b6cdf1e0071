package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Collections;
import java.util.List;
import java.util.Map;

import io.kinfer.protocol.Classification;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.Tensor;
import org.junit.jupiter.api.Test;

class CacheWeigherTest {

    private final CacheWeigher weigher = new CacheWeigher();

    @Test
    void aTextKeyWeighsTwoBytesPerCharacterPlusAFixedCost() {
        List<Output> embedding = List.of(new Embedding(new float[384]));
        int oneShort = weigher.weigh(List.of("good"), embedding);
        int oneLong = weigher.weigh(List.of("x".repeat(10_000)), embedding);
        int manyLong = weigher.weigh(Collections.nCopies(32, "x".repeat(10_000)), embedding);

        assertThat(oneLong - oneShort).isEqualTo(2 * (10_000 - 4));
        assertThat(manyLong).isBetween(32 * 20_000, 32 * 20_000 + 5_000);
        assertThat(oneShort).isBetween(384 * Float.BYTES, 384 * Float.BYTES + 400);
    }

    @Test
    void tensorsWeighTheirDataAndOutputsTheirPayload() {
        List<Output> fp32 = List.of(Tensor.fp32("y", new long[] {1, 1000}, new float[1000]));
        List<Output> int64 = List.of(Tensor.int64("y", new long[] {1, 1000}, new long[1000]));
        Object key = List.of(Tensor.fp32("x", new long[] {1, 4}, new float[4]));

        assertThat(weigher.weigh(key, int64) - weigher.weigh(key, fp32)).isEqualTo(1000 * (Long.BYTES - Float.BYTES));
        assertThat(weigher.weigh(List.of(Tensor.int64("x", new long[] {1, 10_000}, new long[10_000])), fp32)
                - weigher.weigh(key, fp32)).isEqualTo(10_000 * Long.BYTES - 4 * Float.BYTES);
        assertThat(weigher.weigh(key, List.of(new Classification("positive",
                Map.of("positive", 0.9f, "negative", 0.1f))))).isBetween(200, 1_000);
    }
}
