package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.junit.jupiter.api.Test;

/** The worker's start-up Admin calls against the real broker. */
@WithKafka
class WorkerAdminTest {

    @Test
    void theBrokersConfigurationIsReadOncePerWorker(EmbeddedKafka kafka) {
        try (Admin real = kafka.admin()) {
            AtomicInteger clusterLookups = new AtomicInteger();
            WorkerAdmin admin = new WorkerAdmin(counting(real, "describeCluster", clusterLookups));

            assertThat(admin.brokerConfig("errors.deadletterqueue.topic.name.prefix")).contains("dlq.");
            assertThat(admin.brokerConfig("errors.deadletterqueue.topic.name.prefix")).contains("dlq.");
            assertThat(admin.brokerConfig("no.such.setting")).isEmpty();

            assertThat(clusterLookups).hasValue(1);
        }
    }

    @Test
    void existingTopicsAreLeftAsTheyAreAndATopicKafkaRefusesIsNamed(EmbeddedKafka kafka) throws Exception {
        kafka.createTopic("admin.existing", 1);
        try (Admin real = kafka.admin()) {
            WorkerAdmin admin = new WorkerAdmin(real);

            admin.ensureTopics(List.of(new NewTopic("admin.existing", Optional.of(3), Optional.empty()),
                    new NewTopic("admin.created", Optional.of(2), Optional.empty())));

            Map<String, TopicDescription> topics = real.describeTopics(List.of("admin.existing", "admin.created"))
                    .allTopicNames().get(30, TimeUnit.SECONDS);
            assertThat(topics.get("admin.existing").partitions()).hasSize(1);
            assertThat(topics.get("admin.created").partitions()).hasSize(2);
            assertThatThrownBy(() -> admin.ensureTopics(List.of(new NewTopic("admin.refused", Optional.of(1),
                    Optional.empty()).configs(Map.of(TopicConfig.CLEANUP_POLICY_CONFIG, "nonsense")))))
                    .isInstanceOf(ExecutionException.class)
                    .hasMessageStartingWith("cannot create topic admin.refused: ")
                    .hasCauseInstanceOf(InvalidConfigurationException.class);
        }
    }

    /** {@code admin}, counting the calls of its method {@code name}. */
    private static Admin counting(Admin admin, String name, AtomicInteger calls) {
        return (Admin) Proxy.newProxyInstance(Admin.class.getClassLoader(), new Class<?>[] {Admin.class},
                (proxy, method, args) -> {
                    if (method.getName().equals(name)) {
                        calls.incrementAndGet();
                    }
                    try {
                        return method.invoke(admin, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
