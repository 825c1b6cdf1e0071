import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Where one lone call's time goes on the Kafka path: sends one request at a time to a running pipeline with raw
 * Kafka clients and splits each round trip by the reply record's CreateTime (stamped by the worker's producer when
 * it sends the reply) and the worker's own timings. Same machine, same clock; CreateTime has millisecond
 * resolution, so only means over many calls are meaningful.
 *
 * <pre>java -cp distribution/target/kinfer.jar perf/Hops.java [calls] [unique|repeat|echo] [bootstrap]</pre>
 *
 * {@code repeat} sends one text over and over (the worker's cache answers: the round trip without inference).
 * {@code echo} sends the same records to a bare Kafka echo (a consumer and producer in this JVM, the worker's
 * client settings) instead of the worker: the floor of a request-reply over two Kafka hops on this broker.
 */
public class Hops {
    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 500;
        String mode = args.length > 1 ? args[1] : "unique";
        boolean repeat = !mode.equals("unique");
        boolean echo = mode.equals("echo");
        String bootstrap = args.length > 2 ? args[2] : "127.0.0.1:9092";
        String replies = "kinfer.replies.hops";
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("linger.ms", "0");
        props.put("fetch.max.wait.ms", "100");
        String requests = echo ? "kinfer.hops.echo" : "kinfer.requests.sentiment";
        try (Admin admin = Admin.create(props)) {
            var existing = admin.listTopics().names().get();
            for (String topic : List.of(replies, requests)) {
                if (!existing.contains(topic)) {
                    admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
                }
            }
        }
        Thread echoer = echo ? startEcho(props, requests) : null;
        ObjectMapper json = new ObjectMapper();
        double[] total = new double[calls];
        double[] toReply = new double[calls];
        double[] replyHop = new double[calls];
        double[] queue = new double[calls];
        double[] inference = new double[calls];
        try (var producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
             var consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
            readFromEnd(consumer, replies);
            for (int i = -100; i < calls; i++) { // the first 100 warm up
                String id = "hops-" + System.nanoTime();
                String text = repeat ? "I love this product" : "I love this product, order " + id;
                var record = new ProducerRecord<>(requests, id,
                        json.writeValueAsString(json.createObjectNode().put("id", id).put("model", "sentiment")
                                .set("inputs", json.createArrayNode().add(text))));
                record.headers().add("kinfer-reply-topic", replies.getBytes());
                record.headers().add("kinfer-reply-partition", "0".getBytes());
                long sentMs = System.currentTimeMillis();
                long sentNanos = System.nanoTime();
                producer.send(record);
                ConsumerRecord<String, String> reply = null;
                while (reply == null) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                        if (r.key().equals(id)) {
                            reply = r;
                        }
                    }
                }
                long receivedNanos = System.nanoTime();
                long receivedMs = System.currentTimeMillis();
                if (i < 0) {
                    continue;
                }
                JsonNode timings = json.readTree(reply.value()).path("timings");
                total[i] = (receivedNanos - sentNanos) / 1e6;
                toReply[i] = reply.timestamp() - sentMs;
                replyHop[i] = receivedMs - reply.timestamp();
                queue[i] = timings.path("queue_ms").asDouble();
                inference[i] = timings.path("inference_ms").asDouble();
            }
        }
        if (echoer != null) {
            echoer.interrupt();
        }
        System.out.printf("%d calls (%s): round trip mean %.2f ms, P50 %.2f ms, P90 %.2f ms, P99 %.2f ms%n", calls,
                echo ? "bare Kafka echo, no worker" : repeat ? "one repeated text: cache hits" : "unique texts",
                mean(total), percentile(total, 0.5), percentile(total, 0.9), percentile(total, 0.99));
        if (echo) {
            return;
        }
        System.out.printf("  request sent -> reply sent by the worker   mean %.2f ms%n", mean(toReply));
        System.out.printf("    of which worker queue (incl. tokenizing)  mean %.2f ms%n", mean(queue));
        System.out.printf("    of which inference                        mean %.2f ms (P50 %.2f)%n", mean(inference),
                percentile(inference, 0.5));
        System.out.printf("    rest: request hop, decode, hand-offs      mean %.2f ms%n",
                mean(toReply) - mean(queue) - mean(inference));
        System.out.printf("  reply sent -> reply received (reply hop)   mean %.2f ms%n", mean(replyHop));
    }

    static double mean(double[] values) {
        return Arrays.stream(values).average().orElse(0);
    }

    static double percentile(double[] values, double p) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, (int) (p * sorted.length))];
    }

    /** Assigns the topic's one partition and positions at its end, before anything is sent. */
    static void readFromEnd(KafkaConsumer<String, String> consumer, String topic) {
        TopicPartition partition = new TopicPartition(topic, 0);
        consumer.assign(List.of(partition));
        consumer.seekToEnd(List.of(partition));
        consumer.position(partition);
    }

    /** Answers every record of {@code topic} on the reply topic and partition its headers name, body unchanged. */
    static Thread startEcho(Properties props, String topic) throws InterruptedException {
        var ready = new java.util.concurrent.CountDownLatch(1);
        Thread thread = new Thread(() -> {
            try (var producer = new KafkaProducer<>(props, new StringSerializer(), new StringSerializer());
                 var consumer = new KafkaConsumer<>(props, new StringDeserializer(), new StringDeserializer())) {
                readFromEnd(consumer, topic);
                ready.countDown();
                while (!Thread.currentThread().isInterrupted()) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        String replyTopic = new String(r.headers().lastHeader("kinfer-reply-topic").value());
                        int replyPartition = Integer.parseInt(
                                new String(r.headers().lastHeader("kinfer-reply-partition").value()));
                        producer.send(new ProducerRecord<>(replyTopic, replyPartition, r.key(), r.value()));
                    }
                }
            } catch (org.apache.kafka.common.errors.InterruptException stop) {
                // interrupted at the end of the run
            }
        }, "echo");
        thread.setDaemon(true);
        thread.start();
        ready.await();
        return thread;
    }
}
