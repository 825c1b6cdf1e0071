import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.batch.BatchItem;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.batch.Batcher;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.model.PreparedRequest;

/**
 * The worker's batcher and model with nothing around them: N closed-loop users in this process submit unique
 * corpus texts to the real {@link Batcher} over the real ONNX Runtime session, pad-aware on and off alternating.
 * No Kafka, no HTTP, so what differs between the two is the batching policy alone (at N ≤ the batch size,
 * pad-aware means splitting a mixed batch by length, since more than a batch is never queued).
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/Batching.java [users] [seconds] [pairs]
 * java -cp distribution/target/kinfer.jar perf/Batching.java costs</pre>
 *
 * {@code costs} times single model calls of R rows padded to L tokens instead: what a call costs, fixed and per
 * padded token, which the batcher learns by itself while it runs.
 */
public class Batching {

    record Item(PreparedRequest prepared, long arrivalNanos, CompletableFuture<Void> done) implements BatchItem {
        public long deadlineNanos() { return Long.MAX_VALUE; }
        public int priority() { return 0; }
        public int items() { return prepared.items(); }
        public int length() { return prepared.length(); }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("costs")) {
            costs();
            return;
        }
        int users = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 20;
        int pairs = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        List<String> corpus = corpus();
        ModelRepository repo = new ModelRepository(null);
        try (LoadedModel model = repo.load("sentiment", repo.latestVersion("sentiment").orElseThrow(),
                OnnxSettings.forInstances(0, false, 1))) {
            run(model, corpus, users, 10, true); // JIT and ONNX Runtime warm-up
            for (int pair = 1; pair <= pairs; pair++) {
                for (boolean padAware : new boolean[] {false, true}) {
                    System.out.printf("pair %d pad-aware %-5s %s%n", pair, padAware,
                            run(model, corpus, users, seconds, padAware));
                }
            }
        }
    }

    private static List<String> corpus() throws Exception {
        return new String(Batching.class.getClassLoader().getResourceAsStream("io/kinfer/perf/corpus.txt")
                .readAllBytes()).lines().filter(line -> !line.isBlank()).toList();
    }

    /** Mean time of 30 calls for rows × longest-text combinations drawn from the corpus. */
    private static void costs() throws Exception {
        ModelRepository repo = new ModelRepository(null);
        try (LoadedModel model = repo.load("sentiment", repo.latestVersion("sentiment").orElseThrow(),
                OnnxSettings.forInstances(0, false, 1))) {
            List<PreparedRequest> prepared = new ArrayList<>();
            for (String text : corpus()) {
                prepared.add(model.prepare(InferenceRequest.ofTexts("c", "sentiment", List.of(text))));
            }
            prepared.sort((a, b) -> b.length() - a.length());
            for (int i = 0; i < 200; i++) {
                model.infer(prepared.subList(0, 1 + i % 16)); // warm-up
            }
            System.out.println("rows  longest  ms per call");
            for (int rows : new int[] {1, 2, 4, 8, 16, 32}) {
                for (int cap : new int[] {8, 16, 32, 64}) {
                    List<PreparedRequest> fit = prepared.stream().filter(p -> p.length() <= cap).toList();
                    List<PreparedRequest> batch = new ArrayList<>();
                    for (int i = 0; i < rows; i++) {
                        batch.add(fit.get(i % fit.size()));
                    }
                    long total = 0;
                    for (int i = 0; i < 30; i++) {
                        long started = System.nanoTime();
                        model.infer(batch);
                        total += System.nanoTime() - started;
                    }
                    System.out.printf("%4d  %7d  %6.2f%n", rows, fit.get(0).length(), total / 30 / 1e6);
                }
            }
        }
    }

    private static String run(LoadedModel model, List<String> corpus, int users, int seconds, boolean padAware)
            throws Exception {
        AtomicLong unique = new AtomicLong();
        AtomicLong batches = new AtomicLong();
        Batcher.Runner<Item> runner = new Batcher.Runner<>() {
            public void run(List<Item> batch) {
                try {
                    model.infer(batch.stream().map(Item::prepared).toList());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                batches.incrementAndGet();
                batch.forEach(item -> item.done().complete(null));
            }

            public void expired(List<Item> requests) {
            }
        };
        BatchSettings settings = new BatchSettings(32, 0, 256, 1, padAware, false);
        AtomicBoolean stop = new AtomicBoolean();
        List<long[]> latencies = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        try (Batcher<Item> batcher = new Batcher<>("bench", settings, System::nanoTime, runner).start()) {
            for (int u = 0; u < users; u++) {
                long[] mine = new long[1 << 20];
                latencies.add(mine);
                Thread user = new Thread(() -> {
                    int n = 0;
                    while (!stop.get() && n < mine.length - 1) {
                        long i = unique.getAndIncrement();
                        String text = corpus.get((int) (i % corpus.size())) + " #" + i;
                        try {
                            Item item = new Item(model.prepare(InferenceRequest.ofTexts("b" + i, "sentiment",
                                    List.of(text))), System.nanoTime(), new CompletableFuture<>());
                            batcher.enqueue(List.of(item));
                            item.done().get(30, TimeUnit.SECONDS);
                            mine[++n] = System.nanoTime() - item.arrivalNanos();
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                    mine[0] = n;
                });
                threads.add(user);
            }
            long begin = System.nanoTime();
            threads.forEach(Thread::start);
            Thread.sleep(Duration.ofSeconds(seconds).toMillis()); // the measured interval, not synchronisation
            stop.set(true);
            for (Thread t : threads) {
                t.join();
            }
            double elapsed = (System.nanoTime() - begin) / 1e9;
            List<Long> all = new ArrayList<>();
            for (long[] mine : latencies) {
                for (int i = 1; i <= mine[0]; i++) {
                    all.add(mine[i]);
                }
            }
            long[] sorted = all.stream().mapToLong(Long::longValue).sorted().toArray();
            return String.format("%7.1f texts/s  P50 %5.1f ms  P99 %5.1f ms  mean batch %4.1f", sorted.length / elapsed,
                    sorted[sorted.length / 2] / 1e6, sorted[(int) (sorted.length * 0.99)] / 1e6,
                    (double) sorted.length / Math.max(1, batches.get()));
        }
    }
}
