package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import io.kinfer.client.ClientConfig;
import io.kinfer.client.FakeWorker;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;

/**
 * Kafka unreachable: calls get 503 at once and readiness turns false; both recover when Kafka returns. A job whose
 * items Kafka does not take in time is answered 503 and never made.
 */
@WithKafka
class GatewayKafkaOutageTest {

    @Test
    void kafkaOutageGives503AndNotReadyThenRecovers(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1)) {
            try (GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo",
                    ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 300)) {
                assertThat(post(gateway.url() + "/predict", "{\"text\":\"before\"}").status()).isEqualTo(200);

                kafka.stopBroker(0);
                await().atMost(Duration.ofSeconds(30)).until(() -> get(gateway.url() + "/v2/health/ready").status() == 400);
                var during = post(gateway.url() + "/predict", "{\"text\":\"during\"}");
                assertThat(during.status()).isEqualTo(503);
                assertThat(during.body().get("code").asText()).isEqualTo("kafka_unavailable");
                // A job too, at once: it waited out every item's delivery timeout (2 minutes), and could be created
                // after its caller had given up.
                var job = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"during\"]}");
                assertThat(job.status()).isEqualTo(503);
                assertThat(job.body().get("code").asText()).isEqualTo("kafka_unavailable");

                kafka.startBroker(0);
                await().atMost(Duration.ofSeconds(60)).until(() -> get(gateway.url() + "/v2/health/ready").status() == 200);
                await().atMost(Duration.ofSeconds(60)).until(() ->
                        post(gateway.url() + "/predict", "{\"text\":\"after\"}").status() == 200);
            }
        }
    }

    /**
     * Kafka gone while a job's items are written, before the gateway's reachability check notices (here it runs
     * every ten minutes): the POST was answered only at the items' delivery timeout (2 minutes; this test's HTTP
     * client gave up first), and the job could be made after its caller had gone. It is answered 503 at
     * jobs.submit.timeout.ms. That its metadata is then never sent is by construction (one compare-and-set decides
     * between the timer and the metadata); the check below sees the jobs answered 202 and no other made by then.
     */
    @Test
    void aJobWhoseItemsKafkaDoesNotTakeInTimeIsAnswered503(EmbeddedKafka kafka) throws Exception {
        try (FakeWorker worker = PipelineTestSupport.announcedFakeWorker(kafka, "echo", 1);
             GatewayServer gateway = PipelineTestSupport.gatewayKnowing(kafka, "echo",
                     ClientConfig.CLUSTER_CHECK_INTERVAL_MS, 600_000, JobsConfig.SUBMIT_TIMEOUT_MS, 1_000)) {
            var before = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"before\"]}");
            assertThat(before.status()).isEqualTo(202);

            kafka.stopBroker(0);
            var during = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"during\"]}");
            assertThat(during.status()).isEqualTo(503);
            assertThat(during.body().get("code").asText()).isEqualTo("kafka_unavailable");
            kafka.startBroker(0);

            // Once Kafka takes jobs again (the held items of the refused one go out first), the jobs answered 202
            // are on kinfer.jobs, and no other.
            AtomicReference<String> after = new AtomicReference<>();
            await().atMost(Duration.ofSeconds(90)).until(() -> {
                var response = post(gateway.url() + "/v1/jobs", "{\"model\":\"echo\",\"texts\":[\"after\"]}");
                if (response.status() == 202) {
                    after.set(response.body().get("job_id").asText());
                }
                return after.get() != null;
            });
            assertThat(jobRecordKeys(kafka)).containsExactlyInAnyOrder(before.body().get("job_id").asText(),
                    after.get());
        }
    }

    /** The keys of every record on kinfer.jobs, read from the beginning to the end offsets. */
    private static List<String> jobRecordKeys(EmbeddedKafka kafka) {
        Map<String, Object> props = new HashMap<>(kafka.clientProperties());
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<String> keys = new ArrayList<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
                new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor("kinfer.jobs", Duration.ofSeconds(10)).stream()
                    .map(info -> new TopicPartition(info.topic(), info.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
            await().atMost(Duration.ofSeconds(30)).until(() -> {
                consumer.poll(Duration.ofMillis(200)).forEach(record -> keys.add(record.key()));
                return partitions.stream().allMatch(p -> consumer.position(p) >= end.get(p));
            });
        }
        return keys;
    }
}
