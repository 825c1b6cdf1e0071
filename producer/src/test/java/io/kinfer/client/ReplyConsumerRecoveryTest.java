package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.Test;

/**
 * On a broker with ACLs: a reply consumer whose poll throws does not stay dead (denying the client read access to
 * its reply topic fails the call in flight at once and makes the client unready; allowing it again brings the
 * client back without a restart), and a request topic the client may not write is a refusal, not an outage.
 */
class ReplyConsumerRecoveryTest {

    @Test
    void aReplyConsumerDeniedReadingFailsItsCallsAndRecoversOnceAllowedAgain() throws Exception {
        try (EmbeddedKafka kafka = aclBroker()) {
            kafka.createTopic("kinfer.requests.echo", 1);
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            try (FakeWorker worker = new FakeWorker(kafka, "echo");
                 InferenceClient client = InferenceClient.create(new ClientConfig(appSettings(kafka, "acl")), registry)) {
                assertThat(client.request(echo("a1")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
                CompletableFuture<InferenceReply> held = client.request(echo("hold-1"), Duration.ofMinutes(5));
                await().atMost(Duration.ofSeconds(30)).until(() -> worker.holds("hold-1"));

                AclBinding deny = new AclBinding(
                        new ResourcePattern(ResourceType.TOPIC, client.replyTopic(), PatternType.LITERAL),
                        new AccessControlEntry("User:app", "*", AclOperation.READ, AclPermissionType.DENY));
                kafka.admin().createAcls(List.of(deny)).all().get(30, TimeUnit.SECONDS);

                // Failed at once, not at its five-minute deadline.
                await().atMost(Duration.ofSeconds(30)).until(held::isDone);
                assertThatThrownBy(held::get).hasCauseInstanceOf(InferenceException.KafkaUnavailable.class)
                        .hasMessageContaining("reply consumer failed");
                assertThat(client.ready()).isFalse();
                await().atMost(Duration.ofSeconds(10)).until(() -> client.inFlight() == 0);
                var refused = client.request(echo("a2"));
                assertThat(refused).isCompletedExceptionally();
                assertThatThrownBy(refused::get).hasCauseInstanceOf(InferenceException.KafkaUnavailable.class);
                assertThat(registry.get("kinfer.client.reply.consumer.failures").tag("client", "acl").counter()
                        .count()).isGreaterThanOrEqualTo(1);

                // An interrupt of the reply thread while it backs off (a caller's callback may leave one) is a
                // reason to try again now, not to end it: before, the thread returned and the client stayed unready.
                Thread replyThread = Thread.getAllStackTraces().keySet().stream()
                        .filter(t -> t.getName().equals("kinfer-client-replies-acl")).findFirst().orElseThrow();
                double failuresBefore = registry.get("kinfer.client.reply.consumer.failures").tag("client", "acl")
                        .counter().count();
                replyThread.interrupt();
                await().atMost(Duration.ofSeconds(30)).until(() -> registry.get("kinfer.client.reply.consumer.failures")
                        .tag("client", "acl").counter().count() > failuresBefore);

                kafka.admin().deleteAcls(List.of(deny.toFilter())).all().get(30, TimeUnit.SECONDS);

                await().atMost(Duration.ofSeconds(60)).until(client::ready);
                assertThat(client.request(echo("a3")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
                // The held request's reply, written now, completes nothing: its call already failed.
                worker.release("hold-1");
                assertThat(client.request(echo("a4")).get(30, TimeUnit.SECONDS).isSuccess()).isTrue();
            }
        }
    }

    @Test
    void aRequestTopicTheClientMayNotWriteFailsAsNotAuthorizedNotAsAnOutage() throws Exception {
        try (EmbeddedKafka kafka = aclBroker()) {
            kafka.createTopic("kinfer.requests.echo", 1);
            AclBinding deny = new AclBinding(
                    new ResourcePattern(ResourceType.TOPIC, "kinfer.requests.echo", PatternType.LITERAL),
                    new AccessControlEntry("User:app", "*", AclOperation.WRITE, AclPermissionType.DENY));
            kafka.admin().createAcls(List.of(deny)).all().get(30, TimeUnit.SECONDS);
            try (InferenceClient client = InferenceClient.create(new ClientConfig(appSettings(kafka, "denied")))) {
                assertThatThrownBy(() -> client.request(echo("d1")).get(30, TimeUnit.SECONDS))
                        .hasCauseInstanceOf(InferenceException.NotAuthorized.class)
                        .hasMessageContaining("kinfer.requests.echo");
                assertThat(client.ready()).as("Kafka itself is fine").isTrue();
            }
        }
    }

    private static EmbeddedKafka aclBroker() {
        return EmbeddedKafka.builder()
                .saslPlain(Map.of("admin", "admin-secret", "app", "app-secret"))
                .brokerProperty("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
                // ANONYMOUS is the controller listener's (plaintext) principal.
                .brokerProperty("super.users", "User:admin;User:ANONYMOUS")
                .brokerProperty("allow.everyone.if.no.acl.found", "true")
                .start();
    }

    private static Map<String, Object> appSettings(EmbeddedKafka kafka, String clientId) {
        Map<String, Object> settings = new HashMap<>();
        settings.put("kafka.bootstrap.servers", kafka.bootstrapServers());
        EmbeddedKafka.saslClientProperties("app", "app-secret").forEach((k, v) -> settings.put("kafka." + k, v));
        settings.put(ClientConfig.CLIENT_ID, clientId);
        return settings;
    }

    private static InferenceRequest echo(String id) {
        return InferenceRequest.ofTexts(id, "echo", List.of("text of " + id));
    }
}
