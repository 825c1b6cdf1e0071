package io.kinfer.worker.testing;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A plain Kafka client for tests, speaking the wire protocol by hand as an upstream system in any language would:
 * it writes request records with headers and collects every record of a topic (replies, dead letters) in the
 * background.
 */
public final class KafkaTestClient implements AutoCloseable {

    private final EmbeddedKafka kafka;
    private final KafkaProducer<byte[], byte[]> producer;
    private final JsonCodec codec = new JsonCodec();
    private final List<Collector> collectors = new CopyOnWriteArrayList<>();

    public KafkaTestClient(EmbeddedKafka kafka) {
        this.kafka = kafka;
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        this.producer = new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** Writes one record and waits for the broker's acknowledgement. */
    public void send(String topic, String key, byte[] value, Map<String, String> headers) {
        send(topic, key, value, headers, null);
    }

    /** As {@link #send(String, String, byte[], Map)}, with the record's timestamp (null: now). */
    public void send(String topic, String key, byte[] value, Map<String, String> headers, Long timestampMs) {
        RecordHeaders recordHeaders = new RecordHeaders();
        headers.forEach((name, text) -> recordHeaders.add(name, text.getBytes(StandardCharsets.UTF_8)));
        try {
            producer.send(new ProducerRecord<>(topic, null, timestampMs,
                    key == null ? null : key.getBytes(StandardCharsets.UTF_8), value, recordHeaders))
                    .get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("send to " + topic + " failed", e);
        }
    }

    /** Writes a request for a reply on {@code replyTopic} under {@code correlationId}, optionally with a deadline. */
    public void request(InferenceRequest request, String replyTopic, String correlationId, long deadlineEpochMs) {
        Map<String, String> headers = replyTo(replyTopic, correlationId);
        if (deadlineEpochMs > 0) {
            headers.put(KinferHeaders.DEADLINE, Long.toString(deadlineEpochMs));
        }
        send(Topics.requestTopic(request.model()), correlationId, codec.encodeRequest(request), headers);
    }

    /** Writes many requests without waiting for each acknowledgement (one flush at the end). */
    public void requestAll(List<InferenceRequest> requests, String replyTopic, String correlationPrefix) {
        for (InferenceRequest request : requests) {
            RecordHeaders headers = new RecordHeaders();
            replyTo(replyTopic, correlationPrefix + request.id())
                    .forEach((name, text) -> headers.add(name, text.getBytes(StandardCharsets.UTF_8)));
            producer.send(new ProducerRecord<>(Topics.requestTopic(request.model()), null,
                    request.id().getBytes(StandardCharsets.UTF_8), codec.encodeRequest(request), headers));
        }
        producer.flush();
    }

    /** Headers asking for a reply on {@code replyTopic} under {@code correlationId}. */
    public static Map<String, String> replyTo(String replyTopic, String correlationId) {
        Map<String, String> headers = new HashMap<>();
        headers.put(KinferHeaders.REPLY_TOPIC, replyTopic);
        headers.put(KinferHeaders.CORRELATION_ID, correlationId);
        return headers;
    }

    /** Starts collecting every record of {@code topic} from its beginning. */
    public Collector collect(String topic) {
        Collector collector = new Collector(topic);
        collectors.add(collector);
        collector.thread.start();
        return collector;
    }

    public JsonCodec codec() {
        return codec;
    }

    @Override
    public void close() {
        collectors.forEach(Collector::close);
        producer.close(Duration.ofSeconds(5));
    }

    /** The records of one topic, read in the background. */
    public final class Collector implements AutoCloseable {
        private final String topic;
        private final List<ConsumerRecord<byte[], byte[]>> records = new CopyOnWriteArrayList<>();
        private final Map<String, List<InferenceReply>> repliesByCorrelation = new ConcurrentHashMap<>();
        private final Thread thread;
        private volatile boolean running = true;

        private Collector(String topic) {
            this.topic = topic;
            this.thread = new Thread(this::run, "collector-" + topic);
            this.thread.setDaemon(true);
        }

        private void run() {
            Map<String, Object> props = new HashMap<>(kafka.clientProperties());
            props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(),
                    new ByteArrayDeserializer())) {
                List<TopicPartition> partitions = new ArrayList<>();
                while (running && partitions.isEmpty()) {
                    List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(5));
                    if (infos != null) {
                        infos.forEach(i -> partitions.add(new TopicPartition(topic, i.partition())));
                    }
                }
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                while (running) {
                    for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                        records.add(record);
                        String correlation = KinferHeaders.string(record.headers(), KinferHeaders.CORRELATION_ID)
                                .orElse("");
                        if (record.value() != null) {
                            try {
                                repliesByCorrelation.computeIfAbsent(correlation, c -> new CopyOnWriteArrayList<>())
                                        .add(codec.decodeReply(record.value()));
                            } catch (ProtocolException e) {
                                // Not a reply (for example a dead letter of a malformed request): keep the record only.
                            }
                        }
                    }
                }
            } catch (RuntimeException e) {
                if (running) {
                    throw e;
                }
            }
        }

        public List<ConsumerRecord<byte[], byte[]>> records() {
            return List.copyOf(records);
        }

        /** Every reply received under this correlation id (more than one means a duplicate). */
        public List<InferenceReply> replies(String correlationId) {
            return repliesByCorrelation.getOrDefault(correlationId, List.of());
        }

        public InferenceReply reply(String correlationId) {
            List<InferenceReply> replies = replies(correlationId);
            return replies.isEmpty() ? null : replies.get(0);
        }

        public Map<String, Integer> replyCounts() {
            return repliesByCorrelation.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().size()));
        }

        public int size() {
            return records.size();
        }

        @Override
        public void close() {
            running = false;
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
