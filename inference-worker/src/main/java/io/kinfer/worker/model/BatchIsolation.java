package io.kinfer.worker.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;

import io.kinfer.protocol.Output;

/**
 * A model call failed: finds the requests that fail on their own by running the failed ones again in halves (one
 * bad request among n costs about 2·log2(n) more calls), so that one caller's bad input (an index out of range, a
 * width the model cannot multiply) fails only its own request, not its batch-mates'. Triton fails the whole batch.
 * Runs only after a failure: a successful batch pays nothing for it. At most {@link #maxCalls} more calls, enough
 * to find two bad requests: when every request fails (a broken model), splitting all the way would cost 2n more
 * calls, holding up a retire and the version's other batch threads meanwhile.
 */
public final class BatchIsolation {

    private BatchIsolation() {
    }

    /** The most model calls isolating a failed call of {@code requests} requests makes: 4·(⌊log2 n⌋+1)+2. */
    public static int maxCalls(int requests) {
        return 4 * (32 - Integer.numberOfLeadingZeros(requests)) + 2;
    }

    /**
     * {@code batch} failed in one call of {@code model} with {@code failure}; returns each request's outputs, null
     * where it failed alone or where the calls ran out before it was cleared (the caller fails those).
     */
    public static List<List<Output>> isolate(LoadedModel model, List<PreparedRequest> batch, Exception failure) {
        List<List<Output>> outputs = new ArrayList<>(Collections.nCopies(batch.size(), null));
        int[] calls = {maxCalls(batch.size())};
        isolate(model, batch, IntStream.range(0, batch.size()).boxed().toList(), failure, outputs, calls);
        return outputs;
    }

    /** {@code part} (indexes into batch) failed together with {@code failure}; fills outputs for the rest. */
    private static void isolate(LoadedModel model, List<PreparedRequest> batch, List<Integer> part, Exception failure,
                                List<List<Output>> outputs, int[] calls) {
        List<Integer> failed = part;
        if (failure instanceof PartialBatchException partial) {
            // Requests of the calls that succeeded are done; those whose own call failed are known bad.
            failed = new ArrayList<>();
            for (int j = 0; j < part.size(); j++) {
                List<Output> output = partial.outputs().get(j);
                if (output != null) {
                    outputs.set(part.get(j), output);
                } else if (!partial.failedAlone(j)) {
                    failed.add(part.get(j));
                }
            }
        }
        if (failed.size() <= 1) {
            return; // a request that failed alone: the failure is its own
        }
        int middle = failed.size() / 2;
        for (List<Integer> half : List.of(failed.subList(0, middle), failed.subList(middle, failed.size()))) {
            if (calls[0]-- <= 0) {
                return; // out of calls: what is still unanswered fails
            }
            try {
                List<List<Output>> answers = model.infer(half.stream().map(batch::get).toList());
                for (int j = 0; j < half.size(); j++) {
                    outputs.set(half.get(j), answers.get(j));
                }
            } catch (ModelException | RuntimeException e) {
                isolate(model, batch, half, e, outputs, calls);
            }
        }
    }
}
