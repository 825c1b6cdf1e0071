package io.kinfer.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;

import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.Topics;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ClientConfigTest {

    @Test
    void aKafkaSettingWithoutItsPrefixIsWarnedAboutNotSilentlyIgnored() {
        ch.qos.logback.classic.Logger logger = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory
                .getLogger(ClientConfig.class);
        ch.qos.logback.core.read.ListAppender<ch.qos.logback.classic.spi.ILoggingEvent> logged =
                new ch.qos.logback.core.read.ListAppender<>();
        logged.start();
        logger.addAppender(logged);
        try {
            // Before, the client tried 127.0.0.1:9092 and failed a minute later without naming the cause.
            new ClientConfig(Map.of("bootstrap.servers", "kafka:9092", ClientConfig.CLIENT_ID, "mine"));
        } finally {
            logger.detachAppender(logged);
        }

        assertThat(logged.list).extracting(ch.qos.logback.classic.spi.ILoggingEvent::getFormattedMessage)
                .containsExactly("bootstrap.servers is a setting of Kafka's clients, not of kinfer's: it is ignored; "
                        + "pass it as kafka.bootstrap.servers");
    }

    @Test
    void theLongestClientIdFitsItsReplyTopicAndEveryCorrelationId() {
        ClientConfig config = new ClientConfig(Map.of(ClientConfig.CLIENT_ID, "c".repeat(ClientConfig.MAX_CLIENT_ID_CHARS)));

        assertThat(Topics.isValidTopicName(config.replyTopic())).isTrue();
        // <client.id>-<6 characters>-<the sequence in base 36, at most 13>
        int longestCorrelationId = config.clientId().length() + 1 + 6 + 1 + Long.toString(Long.MAX_VALUE, 36).length();
        assertThat(longestCorrelationId).isLessThanOrEqualTo(KinferHeaders.MAX_CORRELATION_ID_CHARS);
    }

    @Test
    void aClientIdTooLongForItsNamesIsRefusedWithTheReason() {
        String tooLong = "c".repeat(ClientConfig.MAX_CLIENT_ID_CHARS + 1);

        assertThatThrownBy(() -> new ClientConfig(Map.of(ClientConfig.CLIENT_ID, tooLong)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("client.id")
                .hasMessageContaining(Integer.toString(ClientConfig.MAX_CLIENT_ID_CHARS));
    }

    @ParameterizedTest
    @ValueSource(strings = {"has space", "slash/id", "ünï", ".", ".."})
    void aClientIdThatCannotNameATopicIsRefusedWithTheReason(String id) {
        assertThatThrownBy(() -> new ClientConfig(Map.of(ClientConfig.CLIENT_ID, id)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("client.id")
                .hasMessageContaining("A-Z a-z 0-9 . _ -");
    }

    @Test
    void theGeneratedClientIdIsValid() {
        ClientConfig config = new ClientConfig(Map.of());

        assertThat(config.clientId()).hasSizeLessThanOrEqualTo(ClientConfig.MAX_CLIENT_ID_CHARS);
        assertThat(Topics.isValidTopicName(config.replyTopic())).isTrue();
    }

    @Test
    void aTransactionalIdMeantForExactlyOnceWorkersNeverReachesTheRequestProducer() {
        ClientConfig config = new ClientConfig(Map.of("kafka.producer.transactional.id", "orders-eos",
                "kafka.producer.compression.type", "zstd"));

        assertThat(InferenceClient.producerProperties(config, "c-1"))
                .doesNotContainKey(ProducerConfig.TRANSACTIONAL_ID_CONFIG)
                .containsEntry(ProducerConfig.COMPRESSION_TYPE_CONFIG, "zstd");
    }
}
