package io.kinfer.worker.batch;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The requests waiting for one model version, by priority level then arrival. Not thread-safe: the
 * {@link Batcher} guards it with its lock.
 */
final class RequestQueue<T extends BatchItem> {

    /** How far past one batch pad-aware selection looks for requests of similar length. */
    private static final int PAD_AWARE_WINDOW_BATCHES = 4;
    /** A split must cost at most this share of the whole batch, so that an estimate's noise does not split. */
    private static final double SPLIT_AT_MOST = 0.9;

    private final ArrayDeque<T>[] levels;
    private int requests;
    private int items;

    @SuppressWarnings("unchecked")
    RequestQueue(int priorityLevels) {
        levels = new ArrayDeque[priorityLevels];
        for (int i = 0; i < priorityLevels; i++) {
            levels[i] = new ArrayDeque<>();
        }
    }

    void add(T item) {
        levels[level(item.priority())].addLast(item);
        requests++;
        items += item.items();
    }

    int requests() {
        return requests;
    }

    int items() {
        return items;
    }

    boolean isEmpty() {
        return requests == 0;
    }

    BatchPolicy.QueueView view() {
        if (requests == 0) {
            return BatchPolicy.QueueView.EMPTY;
        }
        long oldest = Long.MAX_VALUE;
        long earliestDeadline = Long.MAX_VALUE;
        for (ArrayDeque<T> level : levels) {
            if (!level.isEmpty()) {
                oldest = Math.min(oldest, level.peekFirst().arrivalNanos());
            }
            for (T item : level) {
                earliestDeadline = Math.min(earliestDeadline, item.deadlineNanos());
            }
        }
        return new BatchPolicy.QueueView(items, oldest, earliestDeadline);
    }

    /** Removes and returns every request whose deadline has passed: they are answered, never computed. */
    List<T> removeExpired(long nowNanos) {
        return removeIf(item -> item.deadlineNanos() <= nowNanos);
    }

    List<T> removeIf(Predicate<? super T> condition) {
        List<T> removed = new ArrayList<>();
        for (ArrayDeque<T> level : levels) {
            Iterator<T> it = level.iterator();
            while (it.hasNext()) {
                T item = it.next();
                if (condition.test(item)) {
                    it.remove();
                    removed.add(item);
                    requests--;
                    items -= item.items();
                }
            }
        }
        return removed;
    }

    /**
     * Takes the next batch of at most {@code maxItems} rows from the highest non-empty priority level: the oldest
     * request always, then the others in arrival order. With {@code padAware}: when more than a batch is queued,
     * the requests closest in length to the oldest one; when it all fits, the oldest request's part of the cheapest
     * split by length, if splitting is clearly cheaper than padding everything to the longest row. Room the level
     * leaves goes to lower levels ({@link #fillFromLowerLevels}).
     *
     * @param runOverheadTokens the fixed cost of one model call in padded tokens ({@link RunCost}); negative
     *                          while unknown, which never splits
     */
    List<T> takeBatch(int maxItems, boolean padAware, double runOverheadTokens) {
        for (int l = levels.length - 1; l >= 0; l--) {
            ArrayDeque<T> level = levels[l];
            if (level.isEmpty()) {
                continue;
            }
            int levelItems = levelItems(level);
            List<T> batch;
            if (padAware && levelItems > maxItems) {
                batch = closestInLength(level, maxItems);
            } else if (padAware && runOverheadTokens >= 0 && level.size() > 1) {
                batch = oldestsPartOfCheapestSplit(level, levelItems, runOverheadTokens);
            } else {
                batch = inArrivalOrder(level, maxItems);
            }
            batch = fillFromLowerLevels(batch, l, maxItems, padAware);
            for (T item : batch) {
                requests--;
                items -= item.items();
            }
            return batch;
        }
        return List.of();
    }

    /**
     * Fills the room a higher level's batch leaves with lower levels' requests, highest level first and in arrival
     * order within each, as Triton's priority queue fills a batch: a high-priority call no longer runs alone, at the
     * cost of a whole model call, while a backlog below it waits. With {@code padAware} only requests whose length
     * lies within the batch's own span are taken, so that no row pads further than the batch already does.
     */
    private List<T> fillFromLowerLevels(List<T> batch, int level, int maxItems, boolean padAware) {
        if (level == 0) {
            return batch; // nothing below: one priority level (the default) pays nothing on the batch loop
        }
        int taken = 0;
        int shortest = Integer.MAX_VALUE;
        int longest = 0;
        for (T item : batch) {
            taken += item.items();
            shortest = Math.min(shortest, item.length());
            longest = Math.max(longest, item.length());
        }
        List<T> filled = null;
        for (int l = level - 1; l >= 0 && taken < maxItems; l--) {
            Iterator<T> it = levels[l].iterator();
            while (it.hasNext() && taken < maxItems) {
                T item = it.next();
                if (padAware && (item.length() < shortest || item.length() > longest)) {
                    continue;
                }
                if (taken + item.items() > maxItems) {
                    break; // as in one level: a big request waits for the next batch rather than being overtaken
                }
                it.remove();
                filled = filled == null ? new ArrayList<>(batch) : filled;
                filled.add(item);
                taken += item.items();
            }
        }
        return filled == null ? batch : filled;
    }

    private List<T> inArrivalOrder(ArrayDeque<T> level, int maxItems) {
        List<T> batch = new ArrayList<>();
        int taken = 0;
        Iterator<T> it = level.iterator();
        while (it.hasNext()) {
            T item = it.next();
            if (!batch.isEmpty() && taken + item.items() > maxItems) {
                break; // keep arrival order: a big request waits for the next batch rather than being overtaken
            }
            it.remove();
            batch.add(item);
            taken += item.items();
        }
        return batch;
    }

    /**
     * Sorts a window of the queue by length and grows the batch outwards from the oldest request, each time
     * adding the neighbour that widens the length span least, until the batch is full.
     */
    private List<T> closestInLength(ArrayDeque<T> level, int maxItems) {
        List<T> window = new ArrayList<>();
        int windowItems = 0;
        for (T item : level) {
            if (windowItems >= maxItems * PAD_AWARE_WINDOW_BATCHES) {
                break;
            }
            window.add(item);
            windowItems += item.items();
        }
        T oldest = window.get(0);
        List<T> sorted = new ArrayList<>(window);
        sorted.sort(Comparator.comparingInt(BatchItem::length));
        int center = indexOfIdentity(sorted, oldest);
        int lo = center;
        int hi = center;
        int taken = oldest.items();
        int minLength = oldest.length();
        int maxLength = oldest.length();
        while (taken < maxItems) {
            T left = lo > 0 ? sorted.get(lo - 1) : null;
            T right = hi < sorted.size() - 1 ? sorted.get(hi + 1) : null;
            boolean leftFits = left != null && taken + left.items() <= maxItems;
            boolean rightFits = right != null && taken + right.items() <= maxItems;
            if (!leftFits && !rightFits) {
                break;
            }
            boolean takeLeft = leftFits && (!rightFits || maxLength - left.length() <= right.length() - minLength);
            if (takeLeft) {
                lo--;
                taken += left.items();
                minLength = left.length();
            } else {
                hi++;
                taken += right.items();
                maxLength = right.length();
            }
        }
        return removeInArrivalOrder(level, sorted.subList(lo, hi + 1));
    }

    /**
     * Everything queued fits one batch, padded to its longest row. Partitions it, sorted by length, into the runs
     * of least total cost (each run: the call's fixed cost plus rows × longest row), by dynamic programming over
     * the sorted rows, and takes the oldest request's run; the rest stays queued for the next call, or for a free
     * instance, and may gain newcomers. Takes everything when the split is not clearly cheaper.
     */
    private List<T> oldestsPartOfCheapestSplit(ArrayDeque<T> level, int levelItems, double runOverheadTokens) {
        List<T> sorted = new ArrayList<>(level);
        sorted.sort(Comparator.comparingInt(BatchItem::length));
        int n = sorted.size();
        double[] cheapest = new double[n + 1];
        int[] runStart = new int[n + 1];
        for (int end = 1; end <= n; end++) {
            cheapest[end] = Double.MAX_VALUE;
            int rows = 0;
            int longest = sorted.get(end - 1).length();
            for (int start = end - 1; start >= 0; start--) {
                rows += sorted.get(start).items();
                double cost = cheapest[start] + runOverheadTokens + (double) rows * longest;
                if (cost < cheapest[end]) {
                    cheapest[end] = cost;
                    runStart[end] = start;
                }
            }
        }
        double whole = runOverheadTokens + (double) levelItems * sorted.get(n - 1).length();
        if (runStart[n] == 0 || cheapest[n] > SPLIT_AT_MOST * whole) {
            return inArrivalOrder(level, Integer.MAX_VALUE);
        }
        T oldest = level.peekFirst();
        for (int end = n; end > 0; end = runStart[end]) {
            List<T> run = sorted.subList(runStart[end], end);
            if (indexOfIdentity(run, oldest) >= 0) {
                return removeInArrivalOrder(level, run);
            }
        }
        throw new IllegalStateException("the oldest request is in no run");
    }

    private static <T extends BatchItem> int levelItems(ArrayDeque<T> level) {
        int items = 0;
        for (T item : level) {
            items += item.items();
        }
        return items;
    }

    /** Removes the chosen requests from the level and returns them in arrival order. */
    private List<T> removeInArrivalOrder(ArrayDeque<T> level, List<T> chosenRequests) {
        Set<T> chosen = Collections.newSetFromMap(new IdentityHashMap<>());
        chosen.addAll(chosenRequests);
        List<T> batch = new ArrayList<>(chosen.size());
        Iterator<T> it = level.iterator();
        while (it.hasNext() && batch.size() < chosen.size()) {
            T item = it.next();
            if (chosen.contains(item)) {
                it.remove();
                batch.add(item);
            }
        }
        return batch;
    }

    /** The position of exactly this object in the list (not an equal one), or -1. */
    private static <T> int indexOfIdentity(List<T> list, T target) {
        for (int i = 0; i < list.size(); i++) {
            if (list.get(i) == target) {
                return i;
            }
        }
        return -1;
    }

    private int level(int priority) {
        return Math.max(0, Math.min(levels.length - 1, priority));
    }
}
