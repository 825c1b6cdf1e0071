package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.testing.OnnxModels;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;

/**
 * An intake whose consumer dies of an error it cannot handle (here: an ACL that denies reading the request topic)
 * takes the worker out of readiness and liveness, so an orchestrator restarts it, instead of leaving a worker that
 * looks healthy and receives nothing.
 */
class IntakeFailureTest {

    @Test
    void aWorkerWhoseConsumerDiedIsNeitherReadyNorLive() throws Exception {
        Map<String, String> users = new LinkedHashMap<>();
        users.put("admin", "admin-secret");
        users.put("worker", "worker-secret");
        try (EmbeddedKafka kafka = EmbeddedKafka.builder().saslPlain(users)
                .brokerProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
                .brokerProperty("super.users", "User:admin;User:ANONYMOUS")
                .brokerProperty("allow.everyone.if.no.acl.found", "true")
                .start()) {
            Path repo = Files.createTempDirectory("repo");
            OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(4, 3), null, null);
            Map<String, Object> settings = new HashMap<>();
            settings.put("kafka.bootstrap.servers", kafka.bootstrapServers());
            EmbeddedKafka.saslClientProperties("worker", "worker-secret").forEach((k, v) -> settings.put("kafka." + k, v));
            settings.putAll(Map.of(WorkerConfig.MODELS, "gemm", WorkerConfig.MODEL_REPOSITORY, repo.toString(),
                    WorkerConfig.METRICS_PORT, "-1", WorkerConfig.TOPICS_PARTITIONS, "1"));
            try (InferenceWorker worker = InferenceWorker.start(new WorkerConfig(settings))) {
                await().atMost(Duration.ofSeconds(60)).until(worker::ready);
                assertThat(worker.live()).isTrue();

                kafka.admin().createAcls(List.of(new AclBinding(
                        new ResourcePattern(ResourceType.TOPIC, Topics.requestTopic("gemm"), PatternType.LITERAL),
                        new AccessControlEntry("User:worker", "*", AclOperation.READ, AclPermissionType.DENY))))
                        .all().get(30, TimeUnit.SECONDS);

                await().atMost(Duration.ofSeconds(60)).until(() -> !worker.live());
                assertThat(worker.ready()).isFalse();
            }
        }
    }
}
