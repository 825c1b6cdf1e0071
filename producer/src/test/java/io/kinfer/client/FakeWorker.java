package io.kinfer.client;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.DataType;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.Tensor;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.ModelAnnouncement;
import io.kinfer.protocol.ModelMetadata;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.protocol.TensorMetadata;
import io.kinfer.protocol.Timings;
import io.kinfer.protocol.Topics;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A stand-in worker for client tests, speaking the wire protocol over the real broker: it answers each request
 * with an embedding of the text's length, except ids starting with {@code hold-} (kept until {@link #release}),
 * and {@code dup-} (answered twice); the text {@code no-outputs} gets a success with no outputs, and a text
 * {@code version-N} a reply from version N, a text {@code zeros-N} an INT64 tensor of N zeros. The real worker is tested in its own module; the client module cannot
 * depend on it.
 */
public final class FakeWorker implements AutoCloseable {

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final KafkaProducer<byte[], byte[]> producer;
    private final JsonCodec codec = new JsonCodec();
    private final Map<String, ConsumerRecord<byte[], byte[]>> held = new ConcurrentHashMap<>();
    public final List<ConsumerRecord<byte[], byte[]>> received = new CopyOnWriteArrayList<>();
    private final Thread thread;
    private volatile boolean running = true;

    private volatile boolean holdAll;

    public FakeWorker(EmbeddedKafka kafka, String model) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.GROUP_ID_CONFIG, "fake-" + model);
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        consumer = new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        Map<String, Object> producerProps = new HashMap<>(kafka.clientProperties());
        // A reply topic deleted by a closed client must not stall the fake for a minute.
        producerProps.put("max.block.ms", 2000);
        producer = new KafkaProducer<>(producerProps, new ByteArraySerializer(), new ByteArraySerializer());
        consumer.subscribe(List.of("kinfer.requests." + model));
        thread = new Thread(this::run, "fake-worker");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        while (running) {
            for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(100))) {
                received.add(record);
                try {
                    InferenceRequest request = codec.decodeRequest(record.value());
                    if (holdAll || request.id().startsWith("hold-")) {
                        held.put(request.id(), record);
                        continue;
                    }
                    answer(record);
                    if (request.id().startsWith("dup-")) {
                        answer(record);
                    }
                } catch (ProtocolException e) {
                    // not a request: ignore
                }
            }
        }
        consumer.close();
    }

    /** Answers a held request now (a late reply when its caller gave up). */
    public void release(String id) throws ProtocolException {
        answer(held.remove(id));
    }

    public boolean holds(String id) {
        return held.containsKey(id);
    }

    /** Holds every request from now on, as a model that does not finish would. */
    public void holdAll(boolean hold) {
        this.holdAll = hold;
    }

    public int held() {
        return held.size();
    }

    /** Answers every held request. */
    public void releaseAll() throws ProtocolException {
        for (String id : List.copyOf(held.keySet())) {
            try {
                release(id);
            } catch (org.apache.kafka.common.KafkaException e) {
                // its caller's reply topic is gone
            }
        }
    }

    /** Announces the model on the catalog topic, as a worker does, so a gateway knows it. */
    public void announce(String model) {
        ModelMetadata metadata = new ModelMetadata(model, "1", ModelMetadata.TEXT, "embedding",
                List.of(new TensorMetadata("text", DataType.BYTES, new long[] {-1})),
                List.of(new TensorMetadata("embedding", DataType.FP32, new long[] {-1, 1})), List.of(), 8, "fake");
        ModelAnnouncement announcement = new ModelAnnouncement(model, "fake", System.currentTimeMillis(), 60_000,
                List.of(metadata));
        producer.send(new ProducerRecord<>(Topics.CATALOG, announcement.key().getBytes(),
                codec.encodeAnnouncement(announcement)));
        producer.flush();
    }

    /** An INT64 output of n zeros: a large tensor in a small record (two bytes an element). */
    private static Tensor zeros(int n) {
        return Tensor.int64("y", new long[] {1, n}, new long[n]);
    }

    private void answer(ConsumerRecord<byte[], byte[]> record) throws ProtocolException {
        InferenceRequest request = codec.decodeRequest(record.value());
        RequestEnvelope envelope = KinferHeaders.envelope(record.headers(), request.id(), "kinfer.replies");
        String text = request.texts() == null || request.texts().isEmpty() ? "" : request.texts().get(0);
        // Faults a real worker should not produce, for the gateway's tests: a success without outputs, and a
        // reply from another model version (as during a rollout).
        String version = text.startsWith("version-") ? text.substring("version-".length()) : "1";
        List<Output> outputs = text.equals("no-outputs") ? List.of()
                : text.startsWith("zeros-") ? List.of(zeros(Integer.parseInt(text.substring("zeros-".length()))))
                : List.of(new Embedding(new float[] {text.length()}));
        InferenceReply reply = InferenceReply.success(request.id(), request.model(), version, outputs,
                new Timings(0.1, 0.2, 1, "fake", false));
        RecordHeaders headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.CORRELATION_ID, envelope.correlationId());
        producer.send(new ProducerRecord<>(envelope.replyTopic(),
                envelope.replyPartition() < 0 ? null : envelope.replyPartition(),
                envelope.correlationId().getBytes(), codec.encodeReply(reply), headers));
        producer.flush();
    }

    @Override
    public void close() {
        running = false;
        holdAll = false;
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        producer.close();
    }
}
