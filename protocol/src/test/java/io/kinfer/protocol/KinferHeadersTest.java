package io.kinfer.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class KinferHeadersTest {

    @Test
    void envelopeRoundTripsThroughHeaders() throws Exception {
        RequestEnvelope envelope = new RequestEnvelope("c-1", "kinfer.replies.gw-1", 3, 1_900_000_000_000L, 5);
        RecordHeaders headers = new RecordHeaders();

        KinferHeaders.write(envelope, headers);

        assertThat(KinferHeaders.envelope(headers, "fallback", Topics.DEFAULT_REPLY_TOPIC)).isEqualTo(envelope);
        assertThat(KinferHeaders.string(headers, KinferHeaders.DEADLINE)).contains("1900000000000");
    }

    @Test
    void aCorrelationIdComesBackExactlyAsSentWhileNumbersAndTopicsMayBePadded() throws Exception {
        RecordHeaders headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.CORRELATION_ID, " c-1 ");
        KinferHeaders.put(headers, KinferHeaders.DEADLINE, " 1900000000000 ");
        KinferHeaders.put(headers, KinferHeaders.REPLY_TOPIC, "replies.x ");

        RequestEnvelope envelope = KinferHeaders.envelope(headers, "fallback", Topics.DEFAULT_REPLY_TOPIC);

        assertThat(envelope.correlationId()).isEqualTo(" c-1 ");
        assertThat(envelope.deadlineEpochMs()).isEqualTo(1_900_000_000_000L);
        assertThat(envelope.replyTopic()).isEqualTo("replies.x");
    }

    @Test
    void missingHeadersFallBackToRequestIdAndDefaultReplyTopic() throws Exception {
        RequestEnvelope envelope = KinferHeaders.envelope(new RecordHeaders(), "req-7", Topics.DEFAULT_REPLY_TOPIC);

        assertThat(envelope).isEqualTo(new RequestEnvelope("req-7", "kinfer.replies", -1, 0, 0));
        assertThat(envelope.hasDeadline()).isFalse();
        assertThat(envelope.expiredAt(Long.MAX_VALUE)).isFalse();
    }

    @Test
    void aDeadlineOfZeroMeansNoneAsTheJavaApiDoes() throws Exception {
        RecordHeaders headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.DEADLINE, "0");

        RequestEnvelope envelope = KinferHeaders.envelope(headers, "id", "kinfer.replies");

        assertThat(envelope.deadlineEpochMs()).isEqualTo(RequestEnvelope.NO_DEADLINE);
        assertThat(envelope.hasDeadline()).isFalse();
        RecordHeaders negative = new RecordHeaders();
        KinferHeaders.put(negative, KinferHeaders.DEADLINE, "-1");
        assertThatThrownBy(() -> KinferHeaders.envelope(negative, "id", "r")).isInstanceOf(ProtocolException.class);
    }

    @Test
    void aRequestTopicIsNoReplyAddress() {
        // A worker would read its own reply as a request and answer it again, with an error, under the same id.
        RecordHeaders headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.REPLY_TOPIC, "kinfer.requests.sentiment");

        assertThatThrownBy(() -> KinferHeaders.envelope(headers, "id", Topics.DEFAULT_REPLY_TOPIC))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("request topic");
        assertThat(KinferHeaders.bestEffortReplyAddress(headers, "id", Topics.DEFAULT_REPLY_TOPIC)).isEmpty();
        assertThat(Topics.isValidReplyTopic("kinfer.replies.gw-1")).isTrue();
        assertThat(Topics.isValidReplyTopic("kinfer.requestsx")).isTrue();
    }

    @Test
    void invalidHeaderValuesAreInvalidRequests() {
        RecordHeaders badDeadline = new RecordHeaders();
        KinferHeaders.put(badDeadline, KinferHeaders.DEADLINE, "tomorrow");
        assertThatThrownBy(() -> KinferHeaders.envelope(badDeadline, "id", "r"))
                .isInstanceOfSatisfying(ProtocolException.class, e -> {
                    assertThat(e.code()).isEqualTo(ErrorCode.INVALID_REQUEST);
                    assertThat(e.getMessage()).contains(KinferHeaders.DEADLINE);
                });

        RecordHeaders badTopic = new RecordHeaders();
        KinferHeaders.put(badTopic, KinferHeaders.REPLY_TOPIC, "no spaces/allowed");
        assertThatThrownBy(() -> KinferHeaders.envelope(badTopic, "id", "r")).isInstanceOf(ProtocolException.class);
        assertThat(KinferHeaders.bestEffortReplyAddress(badTopic, "id", "r")).isEmpty();

        RecordHeaders negativePartition = new RecordHeaders();
        KinferHeaders.put(negativePartition, KinferHeaders.REPLY_PARTITION, "-3");
        assertThatThrownBy(() -> KinferHeaders.envelope(negativePartition, "id", "r")).isInstanceOf(ProtocolException.class);
    }

    @Test
    void bestEffortAddressSurvivesABrokenDeadline() {
        RecordHeaders headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.REPLY_TOPIC, "replies-x");
        KinferHeaders.put(headers, KinferHeaders.CORRELATION_ID, "c-9");
        KinferHeaders.put(headers, KinferHeaders.DEADLINE, "soon");

        assertThat(KinferHeaders.bestEffortReplyAddress(headers, "id", "r"))
                .hasValueSatisfying(address -> {
                    assertThat(address.replyTopic()).isEqualTo("replies-x");
                    assertThat(address.correlationId()).isEqualTo("c-9");
                });
    }

    @Test
    void topicNamesFollowKafkaRules() {
        assertThat(Topics.requestTopic("sentiment")).isEqualTo("kinfer.requests.sentiment");
        assertThat(Topics.isValidModelName("minilm-v2.int8")).isTrue();
        assertThat(Topics.isValidModelName("-leading")).isFalse();
        assertThat(Topics.isValidModelName("a/b")).isFalse();
        assertThat(Topics.isValidTopicName("..")).isFalse();
        assertThat(Topics.isValidTopicName("x".repeat(250))).isFalse();
    }

    @Test
    void errorCodesHaveStableWireNamesAndHttpStatuses() {
        assertThat(ErrorCode.fromWireName("unknown_model")).contains(ErrorCode.UNKNOWN_MODEL);
        assertThat(ErrorCode.UNKNOWN_MODEL.httpStatus()).isEqualTo(404);
        assertThat(ErrorCode.OVERLOADED.httpStatus()).isEqualTo(429);
        assertThat(ErrorCode.EXPIRED.httpStatus()).isEqualTo(504);
        assertThat(ErrorCode.INPUT_TOO_LARGE.httpStatus()).isEqualTo(413);
        assertThat(ErrorCode.fromWireName("nope")).isEmpty();
    }
}
