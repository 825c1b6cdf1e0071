package io.kinfer.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Isolating bad requests after a failed batch call, against a model that counts its calls: the number of extra
 * calls never exceeds 4·(⌊log2 n⌋+1)+2 however many requests are bad, every request ends with its own outputs or
 * failed (none unanswered, no bad one answered), and up to two bad requests are always found so that every other
 * request is answered. Also through {@link PartialBatchException}, as a tensor model throws when a batch runs as
 * several calls (one per shape) and only some fail.
 */
class BatchIsolationTest {

    /** A request the model fails on whenever it is in the call, or one it answers with its own number. */
    private record Request(int id, boolean bad) implements PreparedRequest {
        @Override
        public int items() {
            return 1;
        }

        @Override
        public int length() {
            return 0;
        }

        @Override
        public Object cacheKey() {
            return null;
        }
    }

    /**
     * Counts its calls; a call fails if it holds a bad request. With {@code shapes} > 1 it runs a call as one
     * group per shape (id modulo shapes) like {@link TensorModel}, failing only the groups with a bad request.
     */
    private static final class CountingModel implements LoadedModel {
        private final int shapes;
        int calls;

        CountingModel(int shapes) {
            this.shapes = shapes;
        }

        @Override
        public List<List<Output>> infer(List<PreparedRequest> batch) throws ModelException {
            calls++;
            Map<Integer, List<Integer>> groups = new LinkedHashMap<>();
            for (int i = 0; i < batch.size(); i++) {
                groups.computeIfAbsent(((Request) batch.get(i)).id() % shapes, s -> new ArrayList<>()).add(i);
            }
            List<List<Output>> outputs = new ArrayList<>(Collections.nCopies(batch.size(), null));
            BitSet failedAlone = new BitSet();
            boolean failed = false;
            for (List<Integer> group : groups.values()) {
                if (group.stream().anyMatch(i -> ((Request) batch.get(i)).bad())) {
                    failed = true;
                    if (group.size() == 1) {
                        failedAlone.set(group.get(0));
                    }
                    continue;
                }
                group.forEach(i -> outputs.set(i, answer((Request) batch.get(i))));
            }
            if (!failed) {
                return outputs;
            }
            if (groups.size() == 1) {
                throw new ModelException("index out of range");
            }
            throw new PartialBatchException("index out of range", null, outputs, failedAlone);
        }

        @Override
        public ModelMetadata metadata() {
            throw new UnsupportedOperationException();
        }

        @Override
        public PreparedRequest prepare(InferenceRequest request) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void close() {
        }
    }

    private static List<Output> answer(Request request) {
        return List.of(Tensor.fp32("y", new long[] {1, 1}, new float[] {request.id()}));
    }

    /** The cap, written out: 4·(⌊log2 n⌋+1)+2 calls after the failed one. */
    private static int cap(int n) {
        int log2 = 0;
        while ((1 << (log2 + 1)) <= n) {
            log2++;
        }
        return 4 * (log2 + 1) + 2;
    }

    private static List<PreparedRequest> batch(int n, Set<Integer> bad) {
        return IntStream.range(0, n).mapToObj(i -> (PreparedRequest) new Request(i, bad.contains(i))).toList();
    }

    /** Isolates a failed call of n requests; checks the cap and that each request ends answered (right) or failed. */
    private static List<List<Output>> isolate(int n, Set<Integer> bad, int shapes) {
        CountingModel model = new CountingModel(shapes);
        List<PreparedRequest> batch = batch(n, bad);
        Exception failure;
        try {
            model.infer(batch);
            throw new AssertionError("the first call must fail");
        } catch (ModelException e) {
            failure = e;
        }
        model.calls = 0;

        List<List<Output>> outputs = BatchIsolation.isolate(model, batch, failure);

        assertThat(model.calls).as("calls isolating %d bad of %d (%d shapes)", bad.size(), n, shapes)
                .isLessThanOrEqualTo(cap(n));
        assertThat(outputs).hasSize(n);
        for (int i = 0; i < n; i++) {
            if (bad.contains(i)) {
                assertThat(outputs.get(i)).as("bad request %d of %d", i, n).isNull();
            } else if (outputs.get(i) != null) {
                assertThat(outputs.get(i)).as("request %d of %d", i, n).isEqualTo(answer(new Request(i, false)));
            }
        }
        return outputs;
    }

    @Test
    void manyBadRequestsNeverCostMoreCallsThanTheCap() {
        Random random = new Random(20261129);
        for (int shapes : new int[] {1, 3}) {
            for (int n = 2; n <= 130; n++) {
                int size = n;
                List<Set<Integer>> patterns = new ArrayList<>();
                patterns.add(IntStream.range(0, n).boxed().collect(Collectors.toSet())); // a broken model
                patterns.add(IntStream.range(0, n).filter(i -> i % 2 == 1).boxed().collect(Collectors.toSet()));
                patterns.add(IntStream.range(0, n).filter(i -> i % 3 == 0).boxed().collect(Collectors.toSet()));
                for (int k = 0; k < 10; k++) {
                    int bad = 3 + random.nextInt(Math.max(1, n - 2));
                    patterns.add(random.ints(bad, 0, size).boxed().collect(Collectors.toCollection(TreeSet::new)));
                }
                for (Set<Integer> bad : patterns) {
                    isolate(n, bad, shapes);
                }
            }
        }
    }

    @Test
    void halfTheBatchBadUsesTheWholeCapAndStillAnswersSomeGoodRequests() {
        // Uncapped, 8 bad among 16 alternating would take 30 more calls; the cap for 16 is 22.
        Set<Integer> bad = IntStream.range(0, 16).filter(i -> i % 2 == 1).boxed().collect(Collectors.toSet());
        CountingModel model = new CountingModel(1);
        List<List<Output>> outputs = BatchIsolation.isolate(model, batch(16, bad), new ModelException("failed"));

        assertThat(model.calls).isEqualTo(cap(16)).isEqualTo(22);
        assertThat(IntStream.range(0, 16).filter(i -> outputs.get(i) != null).boxed().toList())
                .isNotEmpty().allMatch(i -> i % 2 == 0);
    }

    @Test
    void upToTwoBadRequestsAreAlwaysFoundAndEveryOtherRequestIsAnswered() {
        for (int shapes : new int[] {1, 3}) {
            for (int n : new int[] {2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100}) {
                for (int a = 0; a < n; a++) {
                    for (int b = a; b < n; b++) {
                        Set<Integer> bad = new TreeSet<>(List.of(a, b));
                        List<List<Output>> outputs = isolate(n, bad, shapes);
                        assertThat(IntStream.range(0, n).filter(i -> !bad.contains(i)))
                                .as("bad %s of %d (%d shapes)", bad, n, shapes)
                                .allMatch(i -> outputs.get(i) != null);
                    }
                }
            }
        }
    }
}
