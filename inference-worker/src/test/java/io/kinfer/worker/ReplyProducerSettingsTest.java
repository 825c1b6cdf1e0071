package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/**
 * The reply producer's timeouts: in share mode a failed reply must be known within the record lock, and whatever
 * the worker chooses must still be a configuration Kafka's producer accepts with the user's own settings.
 */
class ReplyProducerSettingsTest {

    private static Map<String, Object> replyProducer(Object... keyValues) {
        Map<String, Object> settings = new HashMap<>(Map.of(WorkerConfig.MODELS, "sentiment",
                "kafka.bootstrap.servers", "127.0.0.1:1"));
        for (int i = 0; i < keyValues.length; i += 2) {
            settings.put((String) keyValues[i], keyValues[i + 1]);
        }
        Map<String, Object> props = InferenceWorker.producerProperties(new WorkerConfig(settings));
        // Kafka checks delivery >= linger + request timeout when the producer is made.
        new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer()).close();
        return props;
    }

    @Test
    void consumerGroupsKeepTheirTimeouts() {
        Map<String, Object> props = replyProducer();
        assertThat(props).containsEntry(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000)
                .containsEntry(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
    }

    @Test
    void shareGroupsFailAReplyWithinTheRecordLock() {
        Map<String, Object> props = replyProducer(WorkerConfig.GROUP_MODE, "share");
        assertThat(props).containsEntry(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000)
                .containsEntry(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5_000);
    }

    @Test
    void anOrdinaryAcksOfOnePassesThroughAsInPlainKafka() {
        // Before, the worker's own enable.idempotence=true made Kafka refuse it (idempotence needs acks=all).
        assertThat(replyProducer("kafka.producer.acks", "1")).containsEntry(ProducerConfig.ACKS_CONFIG, "1")
                .doesNotContainKey(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG);
    }

    @Test
    void aUsersLongerRequestTimeoutStillMakesAValidProducer() {
        Map<String, Object> props = replyProducer(WorkerConfig.GROUP_MODE, "share",
                "kafka.producer.request.timeout.ms", "20000", "kafka.producer.linger.ms", "5");
        assertThat(props).containsEntry(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 20_005);
    }

    @Test
    void aUsersTransactionalIdNamesTheExactlyOnceProducersAndNeverTheReplyProducer() {
        // Made with it, the shared reply producer would fail every send (none is inside a transaction).
        Map<String, Object> props = replyProducer("kafka.producer.transactional.id", "orders-eos");
        assertThat(props).doesNotContainKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG);

        WorkerConfig named = new WorkerConfig(Map.of(WorkerConfig.MODELS, "a,b", WorkerConfig.EXACTLY_ONCE, "true",
                "kafka.producer.transactional.id", "orders-eos"));
        assertThat(InferenceWorker.transactionalId(named, "a")).isEqualTo("orders-eos-a");
        assertThat(InferenceWorker.transactionalId(named, "b")).isEqualTo("orders-eos-b");
        WorkerConfig unnamed = new WorkerConfig(Map.of(WorkerConfig.MODELS, "a", WorkerConfig.EXACTLY_ONCE, "true",
                WorkerConfig.WORKER_ID, "w-7"));
        assertThat(InferenceWorker.transactionalId(unnamed, "a")).isEqualTo("kinfer-w-7-a");
    }
}
