import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

import io.kinfer.perf.Corpus;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The Kafka path at saturation the way Kafka consumers meet it: a backlog. Writes {@code count} unique requests
 * (the perf corpus, one text each) to the model's request topic as fast as the producer goes, then only reads the
 * replies, so while the workers drain the backlog no load generator competes with them for the cores. Throughput
 * comes from the replies' CreateTimes (stamped by the workers' producers) between the 10th and the 90th percentile
 * of the replies, which leaves out the start and the tail.
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/Backlog.java [count] [model] [bootstrap]</pre>
 */
public class Backlog {
    public static void main(String[] args) throws Exception {
        int count = args.length > 0 ? Integer.parseInt(args[0]) : 9000;
        String model = args.length > 1 ? args[1] : "sentiment";
        String bootstrap = args.length > 2 ? args[2] : "127.0.0.1:9092";
        String replies = "kinfer.replies.backlog";
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(props)) {
            if (!admin.listTopics().names().get().contains(replies)) {
                admin.createTopics(List.of(new NewTopic(replies, 1, (short) 1))).all().get();
            }
        }
        JsonCodec codec = new JsonCodec();
        Corpus corpus = Corpus.builtIn().unique();
        String run = Long.toString(System.currentTimeMillis(), 36);
        try (var consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition partition = new TopicPartition(replies, 0);
            consumer.assign(List.of(partition));
            consumer.seekToEnd(List.of(partition));
            consumer.position(partition); // positioned before the first request goes out

            long written = System.nanoTime();
            try (var producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < count; i++) {
                    String id = run + "-" + i;
                    var record = new ProducerRecord<>("kinfer.requests." + model, id.getBytes(),
                            codec.encodeRequest(InferenceRequest.ofTexts(id, model, corpus.next(1))));
                    record.headers().add("kinfer-reply-topic", replies.getBytes());
                    record.headers().add("kinfer-reply-partition", "0".getBytes());
                    producer.send(record);
                }
            }
            System.err.printf("%d requests written in %.1f s; reading the replies ...%n", count,
                    (System.nanoTime() - written) / 1e9);

            List<Long> createTimes = new ArrayList<>();
            List<Double> queueMs = new ArrayList<>();
            Map<Integer, Long> batchSizes = new TreeMap<>();
            Map<String, Long> errors = new TreeMap<>();
            Set<String> seen = new HashSet<>();
            long quietSince = System.nanoTime();
            int reported = 0;
            while (seen.size() < count && System.nanoTime() - quietSince < Duration.ofSeconds(60).toNanos()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                    InferenceReply reply = codec.decodeReply(r.value());
                    if (!reply.id().startsWith(run + "-") || !seen.add(reply.id())) {
                        continue;
                    }
                    quietSince = System.nanoTime();
                    if (reply.error() != null) {
                        errors.merge(reply.error().code().wireName(), 1L, Long::sum);
                        continue;
                    }
                    createTimes.add(r.timestamp());
                    queueMs.add(reply.timings().queueMs());
                    batchSizes.merge(reply.timings().batchSize(), 1L, Long::sum);
                }
                if (seen.size() >= reported + 1000 || (seen.size() == count && reported < count)) {
                    reported = seen.size();
                    System.err.printf("  %d/%d replies%n", reported, count);
                }
            }
            createTimes.sort(null);
            queueMs.sort(null);
            int from = createTimes.size() / 10;
            int to = createTimes.size() * 9 / 10;
            double rate = to > from ? (to - from) / ((createTimes.get(to) - createTimes.get(from)) / 1000.0) : 0;
            // Texts per model call, as Triton and kinfer perf's tables count it: each reply says its batch's size,
            // so a batch of b texts is b replies; weighting each text by its batch's size would read higher.
            double calls = batchSizes.entrySet().stream().mapToDouble(e -> (double) e.getValue() / e.getKey()).sum();
            double meanBatch = calls == 0 ? 0 : batchSizes.values().stream().mapToLong(Long::longValue).sum() / calls;
            System.out.printf("backlog of %d: %d answered, %d successes, errors %s, %d never answered%n", count,
                    seen.size(), createTimes.size(), errors, count - seen.size());
            System.out.printf("throughput (replies 10-90 %%): %.1f texts/s; mean batch %.1f; queue P50 %.1f ms, "
                    + "P99 %.1f ms%n", rate, meanBatch, pct(queueMs, 0.5), pct(queueMs, 0.99));
            System.out.printf("batch sizes: %s%n", batchSizes);
        }
    }

    static double pct(List<Double> sorted, double q) {
        return sorted.isEmpty() ? 0 : sorted.get(Math.min(sorted.size() - 1, (int) (q * sorted.size())));
    }
}
