package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import io.kinfer.worker.model.PreparedRequest;
import org.junit.jupiter.api.Test;

/**
 * How the ceiling forms its batches, on a stand-in model whose token length is a text's word count (the real
 * model is in PerfAgainstPipelineTest): by default as the worker's own batcher does on a full queue, texts of
 * similar length together; with arrival grouping, consecutive texts as before.
 */
class CeilingTest {

    /** Records each batch's lengths; computing costs nothing. */
    private static final class Counting implements Ceiling.Model {
        final List<int[]> batches = new CopyOnWriteArrayList<>();

        @Override
        public PreparedRequest prepare(String text) {
            int words = text.split(" +").length;
            return new PreparedRequest() {
                @Override
                public int items() {
                    return 1;
                }

                @Override
                public int length() {
                    return words;
                }

                @Override
                public Object cacheKey() {
                    return null;
                }
            };
        }

        @Override
        public void infer(List<PreparedRequest> batch) {
            batches.add(batch.stream().mapToInt(PreparedRequest::length).toArray());
        }
    }

    private final List<String> phases = new CopyOnWriteArrayList<>();

    private Ceiling.Saturated saturate(Counting model, Ceiling.Grouping grouping) throws Exception {
        return Ceiling.saturate(model, Ceiling.settings(32, grouping, Ceiling.WORKER_QUEUE_SIZE, 1),
                Corpus.builtIn(), Duration.ofMillis(100), Duration.ofMillis(400), phases::add);
    }

    @Test
    void byDefaultTheCeilingGroupsTextsOfSimilarLengthAsTheWorkersBatcherDoes() throws Exception {
        Counting padAware = new Counting();
        Counting arrival = new Counting();

        Ceiling.Saturated grouped = saturate(padAware, Ceiling.Grouping.PAD_AWARE);
        Ceiling.Saturated consecutive = saturate(arrival, Ceiling.Grouping.ARRIVAL);

        // The queue is kept full: every batch is a full one, in both groupings.
        assertThat(padAware.batches).isNotEmpty().allSatisfy(b -> assertThat(b).hasSize(32));
        assertThat(arrival.batches).isNotEmpty().allSatisfy(b -> assertThat(b).hasSize(32));
        // The built-in corpus runs from 1 to 60 words: 32 consecutive texts span most of that, while the worker's
        // grouping takes neighbours in length. The ceiling padded the consecutive batches (its only grouping before).
        assertThat(meanSpread(padAware.batches)).isLessThan(meanSpread(arrival.batches) / 2);
        assertThat(grouped.paddingEfficiency()).isGreaterThan(consecutive.paddingEfficiency() + 0.2);
        assertThat(consecutive.paddingEfficiency()).isBetween(0.0, 1.0);
        assertThat(grouped.itemsPerSecond()).isPositive();
        assertThat(grouped.batchLatency().count()).isPositive();
    }

    @Test
    void arrivalGroupingTakesConsecutiveTextsAsTheOldCeilingDid() throws Exception {
        Counting arrival = new Counting();
        List<Integer> corpus = new ArrayList<>();
        for (String text : Corpus.builtIn().texts()) {
            corpus.add(text.split(" +").length);
        }

        saturate(arrival, Ceiling.Grouping.ARRIVAL);

        // Batch k holds texts 32k .. 32k+31 of the corpus, round robin, as Corpus.next(32) gave the old ceiling.
        for (int k = 0; k < Math.min(5, arrival.batches.size()); k++) {
            int[] batch = arrival.batches.get(k);
            for (int i = 0; i < batch.length; i++) {
                assertThat(batch[i]).isEqualTo(corpus.get((32 * k + i) % corpus.size()));
            }
        }
    }

    @Test
    void eachPhaseIsAnnounced() throws Exception {
        saturate(new Counting(), Ceiling.Grouping.PAD_AWARE);

        assertThat(phases).hasSize(2);
        assertThat(phases.get(0)).startsWith("ceiling: warming up 0.1 s").contains("pad-aware grouping over a queue of "
                + Ceiling.WORKER_QUEUE_SIZE);
        assertThat(phases.get(1)).startsWith("ceiling: measuring 0.4 s");
    }

    private static double meanSpread(List<int[]> batches) {
        return batches.stream().mapToInt(b -> {
            int min = Integer.MAX_VALUE;
            int max = 0;
            for (int length : b) {
                min = Math.min(min, length);
                max = Math.max(max, length);
            }
            return max - min;
        }).average().orElseThrow();
    }
}
