import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import io.kinfer.perf.Corpus;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.worker.batch.BatchItem;
import io.kinfer.worker.batch.BatchSettings;
import io.kinfer.worker.batch.Batcher;
import io.kinfer.worker.model.LoadedModel;
import io.kinfer.worker.model.ModelRepository;
import io.kinfer.worker.model.OnnxSettings;
import io.kinfer.worker.model.PreparedRequest;

/**
 * The worker's batcher and model with nothing around them: the real {@link Batcher} over the real ONNX Runtime
 * session, fed unique corpus texts in this process, pad-aware off and on alternating. No Kafka, no HTTP, so what
 * differs between the two is the batching policy alone. Closed loop (N users, each waiting for its answer) or
 * open loop (Poisson arrivals at a rate, latency from the intended arrival time).
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/Batching.java users|rate N [seconds] [pairs]
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

    /** One load against one batcher: the texts it sends and the latencies it saw. */
    interface Load {
        void drive(Batcher<Item> batcher, Texts texts, AtomicBoolean stop, Queue<Long> latencies) throws Exception;
    }

    /** The perf corpus made unique (no cache could answer), prepared as a worker's consumer thread would. */
    record Texts(LoadedModel model, Corpus corpus) {
        Item next(long arrivalNanos) throws Exception {
            return new Item(model.prepare(InferenceRequest.ofTexts("b", "sentiment", corpus.next(1))),
                    arrivalNanos, new CompletableFuture<>());
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("costs")) {
            costs();
            return;
        }
        String mode = args.length > 0 ? args[0] : "users";
        double amount = args.length > 1 ? Double.parseDouble(args[1]) : 10;
        int seconds = args.length > 2 ? Integer.parseInt(args[2]) : 20;
        int pairs = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        Load load = switch (mode) {
            case "users" -> closedLoop((int) amount);
            case "rate" -> openLoop(amount);
            default -> throw new IllegalArgumentException("users, rate or costs, not " + mode);
        };
        try (LoadedModel model = sentiment()) {
            Texts texts = new Texts(model, Corpus.builtIn().unique());
            measure(texts, closedLoop(10), 10, true); // JIT and ONNX Runtime warm-up
            for (int pair = 1; pair <= pairs; pair++) {
                for (boolean padAware : new boolean[] {false, true}) {
                    System.out.printf("%s %s pair %d pad-aware %-5s %s%n", mode, args.length > 1 ? args[1] : "10",
                            pair, padAware, measure(texts, load, seconds, padAware));
                }
            }
        }
    }

    /** N users, each sending its next text when its last one is answered. */
    private static Load closedLoop(int users) {
        return (batcher, texts, stop, latencies) -> {
            List<Thread> threads = new ArrayList<>();
            for (int u = 0; u < users; u++) {
                Thread user = new Thread(() -> {
                    while (!stop.get()) {
                        try {
                            Item item = texts.next(System.nanoTime());
                            batcher.enqueue(List.of(item));
                            item.done().get(30, TimeUnit.SECONDS);
                            latencies.add(System.nanoTime() - item.arrivalNanos());
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    }
                });
                user.start();
                threads.add(user);
            }
            for (Thread t : threads) {
                t.join();
            }
        };
    }

    /** Poisson arrivals at {@code rate} per second; each latency runs from the arrival's intended time. */
    private static Load openLoop(double rate) {
        return (batcher, texts, stop, latencies) -> {
            Random random = new Random(42);
            long next = System.nanoTime();
            List<CompletableFuture<Void>> pending = new ArrayList<>();
            while (!stop.get()) {
                next += (long) (-Math.log(1 - random.nextDouble()) / rate * 1e9);
                LockSupport.parkNanos(next - System.nanoTime());
                Item item = texts.next(next);
                item.done().thenRun(() -> latencies.add(System.nanoTime() - item.arrivalNanos()));
                pending.add(item.done());
                batcher.enqueue(List.of(item));
            }
            CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        };
    }

    private static String measure(Texts texts, Load load, int seconds, boolean padAware) throws Exception {
        AtomicLong batches = new AtomicLong();
        Batcher.Runner<Item> runner = new Batcher.Runner<>() {
            public void run(List<Item> batch) {
                try {
                    texts.model().infer(batch.stream().map(Item::prepared).toList());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                batches.incrementAndGet();
                batch.forEach(item -> item.done().complete(null));
            }

            public void expired(List<Item> requests) {
            }
        };
        BatchSettings settings = new BatchSettings(32, 0, 100_000, 1, padAware, false);
        AtomicBoolean stop = new AtomicBoolean();
        Queue<Long> latencies = new ConcurrentLinkedQueue<>();
        try (Batcher<Item> batcher = new Batcher<>("bench", settings, System::nanoTime, runner).start()) {
            long begin = System.nanoTime();
            Thread driver = new Thread(() -> {
                try {
                    load.drive(batcher, texts, stop, latencies);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            driver.start();
            Thread.sleep(Duration.ofSeconds(seconds).toMillis()); // the measured interval, not synchronisation
            stop.set(true);
            driver.join();
            double elapsed = (System.nanoTime() - begin) / 1e9;
            long[] sorted = latencies.stream().mapToLong(Long::longValue).sorted().toArray();
            return String.format("%7.1f texts/s  P50 %6.1f ms  P99 %6.1f ms  mean batch %4.1f", sorted.length / elapsed,
                    sorted[sorted.length / 2] / 1e6, sorted[(int) (sorted.length * 0.99)] / 1e6,
                    (double) sorted.length / Math.max(1, batches.get()));
        }
    }

    /** The built-in sentiment model with the worker's default threads, as a one-instance worker loads it. */
    private static LoadedModel sentiment() throws Exception {
        ModelRepository repo = new ModelRepository(null);
        return repo.load("sentiment", repo.latestVersion("sentiment").orElseThrow(),
                OnnxSettings.DEFAULTS);
    }

    /** Mean time of 30 calls for each rows × longest-text pair drawn from the corpus. */
    private static void costs() throws Exception {
        try (LoadedModel model = sentiment()) {
            List<PreparedRequest> prepared = new ArrayList<>();
            for (String text : Corpus.builtIn().texts()) {
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
}
