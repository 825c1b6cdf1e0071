package io.kinfer.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.Properties;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** The Kafka Streams settings the jobs service runs with: jobs.streams.* has the last word. */
class JobsConfigTest {

    @Test
    void streamsSettingsPassThroughAndOverrideOurs() {
        String url = "http://127.0.0.1:8080";
        Map<String, Object> defaults = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url)).streamsProperties();
        Map<String, Object> overridden = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, url,
                "jobs.streams.processing.guarantee", "exactly_once_v2",
                "jobs.streams." + StreamsConfig.producerPrefix("linger.ms"), "20")).streamsProperties();

        // At least once by default (exactly-once wipes the stores on a crash and needs transactions on the brokers).
        assertThat(defaults).doesNotContainKey(StreamsConfig.PROCESSING_GUARANTEE_CONFIG)
                .containsEntry(StreamsConfig.producerPrefix("linger.ms"), 5);
        assertThat(overridden).containsEntry(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, "exactly_once_v2")
                .containsEntry(StreamsConfig.producerPrefix("linger.ms"), "20");
    }

    @Test
    void kafkaStreamsStartsWithoutWarningsAboutItsSettings() {
        Properties props = new Properties();
        props.putAll(new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080",
                JobsConfig.STATE_DIR, System.getProperty("java.io.tmpdir") + "/kinfer-jobs-config-test"))
                .streamsProperties());
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream("kinfer.jobs.test").foreach((key, value) -> { });
        Logger streamsConfig = (Logger) LoggerFactory.getLogger(StreamsConfig.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        streamsConfig.addAppender(logged);
        try {
            // Constructing makes the clients (and the assignor's own StreamsConfig) without connecting anywhere.
            new KafkaStreams(builder.build(), props).close();
        } finally {
            streamsConfig.detachAppender(logged);
        }
        assertThat(logged.list).filteredOn(event -> event.getLevel().isGreaterOrEqual(Level.WARN))
                .extracting(ILoggingEvent::getFormattedMessage).isEmpty();
    }

    /**
     * Replies of exactly-once workers come in transactions: read uncommitted (Streams' at-least-once default), an
     * aborted reply became an item's result and the committed one a dropped duplicate.
     */
    @Test
    void resultsAreReadCommittedAndRecordsTooLargeAreSkippedNotFatal() {
        Map<String, Object> props = new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080"))
                .streamsProperties();

        assertThat(props).containsEntry(StreamsConfig.mainConsumerPrefix("isolation.level"), "read_committed")
                .containsEntry(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG,
                        SkipTooLargeHandler.class.getName());
        SkipTooLargeHandler handler = new SkipTooLargeHandler();
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>("t", new byte[1]);
        assertThat(handler.handleError(null, record, new RecordTooLargeException("too large")).result())
                .isEqualTo(ProductionExceptionHandler.Result.RESUME);
        // Anything else is Streams' default handler's: a non-retriable error still fails the thread.
        ErrorHandlerContext context = (ErrorHandlerContext) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {ErrorHandlerContext.class}, (proxy, method, args) -> nothing(method.getReturnType()));
        assertThat(handler.handleError(context, record, new InvalidTopicException("bad")).result())
                .isEqualTo(ProductionExceptionHandler.Result.FAIL);
    }

    @Test
    void theLargestResultTakenFollowsTheStreamsProducersRequestSize() {
        assertThat(new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080")).maxResultBytes())
                .isEqualTo(1_048_576 - JobsConfig.RESULT_HEADROOM_BYTES);
        assertThat(new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080",
                "jobs.streams.producer.max.request.size", "4194304")).maxResultBytes())
                .isEqualTo(4_194_304 - JobsConfig.RESULT_HEADROOM_BYTES);
        // The internal topics' own limit, when smaller: the broker would refuse what the producer sends.
        assertThat(new JobsConfig(Map.of(JobsConfig.ADVERTISED_URL, "http://127.0.0.1:8080",
                "jobs.streams.producer.max.request.size", "4194304",
                "jobs.streams.topic.max.message.bytes", "2097152")).maxResultBytes())
                .isEqualTo(2_097_152 - JobsConfig.RESULT_HEADROOM_BYTES);
    }

    /** Streams' own settings and its clients' are shown in the gateway's start-up line; a misspelt one is not. */
    @Test
    void streamsSettingsAreKnownToTheStartUpLineAndMisspeltOnesAreNot() {
        assertThat(JobsConfig.isStreamsSetting("jobs.streams.num.standby.replicas")).isTrue();
        assertThat(JobsConfig.isStreamsSetting("jobs.streams.producer.linger.ms")).isTrue();
        assertThat(JobsConfig.isStreamsSetting("jobs.streams.main.consumer.max.poll.records")).isTrue();
        assertThat(JobsConfig.isStreamsSetting("jobs.streams.sasl.jass.config")).isFalse();
        assertThat(JobsConfig.isStreamsSetting("gateway.port")).isFalse();
    }

    /** What a stand-in's method returns: zero for numbers, null for everything else. */
    private static Object nothing(Class<?> type) {
        if (type == int.class) {
            return 0;
        }
        return type == long.class ? (Object) 0L : null;
    }
}
