package io.kinfer.jobs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.Timings;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The job-state topology on Kafka Streams' own test driver: ordering, completion, errors, placeholders, expiry. */
class JobsTopologyTest {

    private static final Instant T0 = Instant.parse("2026-03-01T12:00:00Z");
    private static final long RETENTION_MS = Duration.ofHours(1).toMillis();
    private static final Duration SCAN = Duration.ofMinutes(1);
    /** The largest result the store takes as it came; small here, so that a test can go over it cheaply. */
    private static final int MAX_RESULT_BYTES = 4096;

    private final JsonCodec codec = new JsonCodec();
    private final JobIds ids = new JobIds();
    private SimpleMeterRegistry registry;
    private TopologyTestDriver driver;
    private TestInputTopic<String, byte[]> jobsTopic;
    private TestInputTopic<String, byte[]> resultsTopic;
    private KeyValueStore<String, JobRecord> jobs;
    private KeyValueStore<String, byte[]> items;
    private KeyValueStore<String, byte[]> expiry;
    private long wallClock = T0.toEpochMilli();

    @BeforeEach
    void start(@TempDir Path stateDir) {
        registry = new SimpleMeterRegistry();
        JobsMetrics metrics = new JobsMetrics(registry);
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "jobs-topology-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:1");
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        driver = new TopologyTestDriver(JobsTopology.build(new JobsTopology.Settings(RETENTION_MS, SCAN.toMillis(), 1, MAX_RESULT_BYTES),
                metrics), props, T0);
        jobsTopic = driver.createInputTopic(JobsTopology.JOBS_TOPIC, new StringSerializer(), new ByteArraySerializer());
        resultsTopic = driver.createInputTopic(JobsTopology.RESULTS_TOPIC, new StringSerializer(),
                new ByteArraySerializer());
        jobs = driver.getKeyValueStore(JobsTopology.JOBS_STORE);
        items = driver.getKeyValueStore(JobsTopology.ITEMS_STORE);
        expiry = driver.getKeyValueStore(JobsTopology.EXPIRY_STORE);
    }

    @AfterEach
    void stop() {
        driver.close();
    }

    private String submit(int total) {
        String id = ids.next(T0.toEpochMilli());
        JobSubmitted job = new JobSubmitted(id, "echo", null, total, T0.toEpochMilli(),
                T0.toEpochMilli() + RETENTION_MS, null);
        jobsTopic.pipeInput(id, job.toJson());
        return id;
    }

    private void result(String jobId, int index, float value) {
        String id = jobId + ":" + index;
        resultsTopic.pipeInput(id, codec.encodeReply(InferenceReply.success(id, "echo", "1",
                List.of(new Embedding(new float[] {value})), new Timings(0.5, 1.5, 4, "w-1", false))));
    }

    private void failure(String jobId, int index, ErrorCode code, String message) {
        String id = jobId + ":" + index;
        resultsTopic.pipeInput(id, codec.encodeReply(InferenceReply.failure(id, "echo", code, message)));
    }

    private Optional<JobViews.JobView> view(String jobId) {
        return JobViews.read(jobs, items, jobId, wallClock);
    }

    private void advance(Duration duration) {
        wallClock += duration.toMillis();
        driver.advanceWallClockTime(duration);
    }

    private static List<JsonNode> results(JobViews.JobView view) throws IOException {
        List<JsonNode> nodes = new ArrayList<>();
        for (byte[] item : view.results()) {
            nodes.add(Json.MAPPER.readTree(item));
        }
        return nodes;
    }

    private double counter(String name) {
        return registry.find(name).counter() == null ? 0 : registry.find(name).counter().count();
    }

    @Test
    void itemsArrivingOutOfOrderAreReturnedInInputOrder() throws IOException {
        String id = submit(12);
        for (int index : new int[] {7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4}) {
            result(id, index, 100 + index);
        }

        JobViews.JobView view = view(id).orElseThrow();

        assertThat(view.record().complete()).isTrue();
        List<JsonNode> results = results(view);
        assertThat(results).hasSize(12);
        for (int i = 0; i < 12; i++) {
            assertThat(results.get(i).get("index").asInt()).isEqualTo(i);
            assertThat(results.get(i).at("/outputs/0/embedding/0").floatValue()).isEqualTo(100f + i);
            assertThat(results.get(i).has("id")).isFalse();
        }
        assertThat(results.get(0).get("version").asText()).isEqualTo("1");
        assertThat(results.get(0).at("/timings/worker").asText()).isEqualTo("w-1");
    }

    /**
     * A reply over the store's limit, passed on as it came, was refused by Kafka on the repartition topic, which
     * failed the stream thread after every replacement until the record left its topic. It becomes an internal
     * error for its item, and the job completes.
     */
    @Test
    void aReplyTooLargeForTheStoreBecomesAnErrorItemAndTheJobCompletes() throws IOException {
        String id = submit(2);
        String itemId = id + ":0";
        resultsTopic.pipeInput(itemId, codec.encodeReply(InferenceReply.success(itemId, "echo", "1",
                List.of(new Embedding(new float[2000])), new Timings(0.5, 1.5, 4, "w-1", false))));
        result(id, 1, 7);

        JobViews.JobView view = view(id).orElseThrow();

        assertThat(view.record().complete()).isTrue();
        assertThat(view.record().failed()).isEqualTo(1);
        List<JsonNode> results = results(view);
        assertThat(results.get(0).at("/error/code").asText()).isEqualTo("internal");
        assertThat(results.get(0).at("/error/message").asText()).contains("more than the job store takes (4096");
        assertThat(results.get(1).at("/outputs/0/embedding/0").floatValue()).isEqualTo(7f);
        assertThat(registry.find("kinfer.jobs.records.dropped").tag("reason", "too_large").counter().count())
                .isEqualTo(1);
    }

    /** Changelog segments roll with the retention, at most daily, at least every minute. */
    @Test
    void changelogSegmentsRollWithTheRetentionAtMostDaily() {
        assertThat(JobsTopology.changelogConfig(new JobsTopology.Settings(Duration.ofHours(1).toMillis(), 60_000, 1,
                MAX_RESULT_BYTES))).containsEntry("segment.ms", "3600000").containsEntry("min.cleanable.dirty.ratio",
                "0.1");
        assertThat(JobsTopology.changelogConfig(new JobsTopology.Settings(Duration.ofDays(7).toMillis(), 60_000, 1,
                MAX_RESULT_BYTES))).containsEntry("segment.ms", "86400000");
        assertThat(JobsTopology.changelogConfig(new JobsTopology.Settings(1_000, 60_000, 1, MAX_RESULT_BYTES)))
                .containsEntry("segment.ms", "60000");
    }

    @Test
    void aJobCompletesOnlyWhenAllItsItemsAreIn() {
        String id = submit(3);
        result(id, 0, 1);
        result(id, 2, 3);

        JobViews.JobView pending = view(id).orElseThrow();
        assertThat(pending.record().complete()).isFalse();
        assertThat(pending.record().done()).isEqualTo(2);
        assertThat(pending.record().total()).isEqualTo(3);
        assertThat(pending.results()).isEmpty();
        assertThat(counter("kinfer.jobs.completed")).isZero();

        advance(Duration.ofSeconds(5));
        result(id, 1, 2);

        JobRecord done = view(id).orElseThrow().record();
        assertThat(done.complete()).isTrue();
        assertThat(done.completedMs()).isEqualTo(T0.toEpochMilli() + 5_000);
        assertThat(counter("kinfer.jobs.completed")).isEqualTo(1);
    }

    @Test
    void errorsOfSingleItemsAreKeptAndTheJobStillCompletes() throws IOException {
        String id = submit(3);
        result(id, 0, 1);
        failure(id, 1, ErrorCode.EXPIRED, "the deadline passed");
        resultsTopic.pipeInput(id + ":2", "not json".getBytes());

        JobViews.JobView view = view(id).orElseThrow();

        assertThat(view.record().complete()).isTrue();
        assertThat(view.record().failed()).isEqualTo(2);
        List<JsonNode> results = results(view);
        assertThat(results.get(0).has("error")).isFalse();
        assertThat(results.get(1).at("/error/code").asText()).isEqualTo("expired");
        assertThat(results.get(1).at("/error/message").asText()).isEqualTo("the deadline passed");
        assertThat(results.get(1).has("outputs")).isFalse();
        assertThat(results.get(2).at("/error/code").asText()).isEqualTo("internal");
        assertThat(results.get(2).at("/error/message").asText()).contains("could not be read");
    }

    @Test
    void resultsThatArriveBeforeTheirJobAreKeptUntilItComes() throws IOException {
        String id = ids.next(T0.toEpochMilli());
        result(id, 1, 2);
        result(id, 0, 1);
        JobRecord placeholder = view(id).orElseThrow().record();
        assertThat(placeholder.known()).isFalse();
        assertThat(placeholder.done()).isEqualTo(2);

        jobsTopic.pipeInput(id, new JobSubmitted(id, "echo", "1", 2, T0.toEpochMilli(),
                T0.toEpochMilli() + RETENTION_MS, "https://example.test/done").toJson());

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().complete()).isTrue();
        assertThat(view.record().model()).isEqualTo("echo");
        assertThat(view.record().callback()).isEqualTo("https://example.test/done");
        assertThat(results(view)).extracting(node -> node.get("index").asInt()).containsExactly(0, 1);
        assertThat(counter("kinfer.jobs.completed")).isEqualTo(1);
        // One expiry entry: the placeholder's was replaced by the job's own.
        assertThat(count(expiry)).isEqualTo(1);
    }

    @Test
    void duplicateRepliesCountOnce() {
        String id = submit(2);
        result(id, 0, 1);
        result(id, 0, 99);

        JobRecord record = view(id).orElseThrow().record();

        assertThat(record.done()).isEqualTo(1);
        assertThat(record.complete()).isFalse();
        assertThat(registry.get("kinfer.jobs.records.dropped").tag("reason", "duplicate").counter().count())
                .isEqualTo(1);
    }

    @Test
    void aWorkersAnswerReplacesTheUnavailableStandInOfASendThatReachedKafkaAfterAll() throws IOException {
        String id = submit(2);
        result(id, 0, 1);
        // The gateway's stand-in for a send it saw fail (a delivery timeout), which the broker had written.
        failure(id, 1, ErrorCode.UNAVAILABLE, "the request could not be written to Kafka: timeout");
        JobRecord done = view(id).orElseThrow().record();
        assertThat(done.complete()).isTrue();
        assertThat(done.failed()).isEqualTo(1);

        result(id, 1, 2); // the worker's real answer
        failure(id, 1, ErrorCode.UNAVAILABLE, "a late stand-in"); // and nothing replaces a real answer

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().complete()).isTrue();
        assertThat(view.record().done()).isEqualTo(2);
        assertThat(view.record().failed()).isZero();
        assertThat(view.record().completedMs()).isEqualTo(done.completedMs());
        assertThat(results(view).get(1).at("/outputs/0/embedding/0").floatValue()).isEqualTo(2f);
        assertThat(counter("kinfer.jobs.items.replaced")).isEqualTo(1);
        assertThat(counter("kinfer.jobs.completed")).isEqualTo(1);
    }

    @Test
    void otherErrorsAreNotReplacedByALaterAnswer() throws IOException {
        String id = submit(1);
        failure(id, 0, ErrorCode.EXPIRED, "the deadline passed");
        result(id, 0, 1);

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().failed()).isEqualTo(1);
        assertThat(results(view).get(0).at("/error/code").asText()).isEqualTo("expired");
    }

    @Test
    void aCountLostInACrashIsRepairedByTheRedeliveredResult() {
        String id = submit(2);
        result(id, 0, 1);
        result(id, 1, 2);
        // As after a crash between writing item 1 and its count: the item is stored, the count says 1 of 2.
        JobRecord complete = jobs.get(id);
        jobs.put(id, new JobRecord(id, complete.model(), complete.version(), 2, 1, 0, complete.createdMs(),
                complete.expiresMs(), 0, null));
        assertThat(view(id).orElseThrow().record().complete()).isFalse();

        result(id, 1, 2); // the redelivery

        assertThat(view(id).orElseThrow().record().complete()).isTrue();
        assertThat(jobs.get(id).done()).isEqualTo(2);
    }

    @Test
    void aFailureCountLeftByACrashDuringAReplacementIsRepairedByTheRedeliveredAnswer() throws IOException {
        String id = submit(2);
        result(id, 0, 1);
        failure(id, 1, ErrorCode.UNAVAILABLE, "the request could not be written to Kafka: timeout");
        JobRecord done = jobs.get(id);
        assertThat(done.complete()).isTrue();
        assertThat(done.failed()).isEqualTo(1);
        // As after a crash between the worker's answer replacing the stand-in and the count's decrement: the
        // answer is stored, the count still says one failure.
        result(id, 1, 2);
        jobs.put(id, done);
        assertThat(results(view(id).orElseThrow()).get(1).has("error")).isFalse();

        result(id, 1, 2); // the redelivery, which finds a real answer stored: a duplicate

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().complete()).isTrue();
        assertThat(view.record().done()).isEqualTo(2);
        assertThat(view.record().failed()).isZero();
        assertThat(view.record().completedMs()).isEqualTo(done.completedMs());
        assertThat(counter("kinfer.jobs.completed")).isEqualTo(1);
    }

    @Test
    void aCountThatRanAheadOfItsItemsDoesNotCompleteTheJob() {
        String id = submit(2);
        result(id, 0, 1);
        // As after a crash where the count's write reached its changelog and the item's did not: no item stored,
        // yet the count says 1 of 2. Item 1's result then arrives, and item 0's is redelivered.
        JobRecord state = jobs.get(id);
        items.delete(JobsTopology.itemKey(id, 0));
        jobs.put(id, state.withCounts(1, 0));

        result(id, 1, 2);

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().complete()).as("item 0 is missing").isFalse();
        assertThat(view.record().done()).isEqualTo(1);
        result(id, 0, 1); // redelivered
        assertThat(view(id).orElseThrow().record().complete()).isTrue();
    }

    @Test
    void jobsAreDeletedWithTheirResultsAfterTheRetention() {
        String expiring = submit(2);
        result(expiring, 0, 1);
        result(expiring, 1, 2);
        advance(Duration.ofMinutes(30));
        String younger = ids.next(T0.toEpochMilli() + Duration.ofMinutes(30).toMillis());
        jobsTopic.pipeInput(younger, new JobSubmitted(younger, "echo", null, 1,
                T0.toEpochMilli() + Duration.ofMinutes(30).toMillis(),
                T0.toEpochMilli() + Duration.ofMinutes(90).toMillis(), null).toJson());
        assertThat(count(items)).isEqualTo(2);
        // Past its expiry a job is gone for readers at once, even before the scan deletes it.
        long later = T0.toEpochMilli() + RETENTION_MS;
        assertThat(Answer.job(expiring, JobViews.read(jobs, items, expiring, later), later, RETENTION_MS).status())
                .isEqualTo(404);
        assertThat(Answer.job(expiring, view(expiring), wallClock, RETENTION_MS).status()).isEqualTo(200);

        advance(Duration.ofMinutes(31));

        assertThat(jobs.get(expiring)).isNull();
        assertThat(jobs.get(younger)).isNotNull();
        assertThat(count(items)).isZero();
        assertThat(count(expiry)).isEqualTo(1);
        assertThat(counter("kinfer.jobs.expired")).isEqualTo(1);
        // RocksDB's estimate, refreshed by the scan: approximate, but there.
        assertThat(registry.get("kinfer.jobs.store.size").gauge().value()).isPositive();

        // A reply that comes after its job expired does not bring the job back.
        result(expiring, 0, 1);
        assertThat(jobs.get(expiring)).isNull();
    }

    /**
     * A job that expires within the creation grace (written straight to Kafka with a short expiry, or by an instance
     * whose retention is shorter) answers 404 once expired, and keeps answering it: deleted at its expiry, it read
     * as "pending" again (a new id without metadata) until the grace was over.
     */
    @Test
    void aJobExpiringWithinTheCreationGraceStays404UntilItIsDeleted() {
        String id = ids.next(T0.toEpochMilli());
        jobsTopic.pipeInput(id, job(id, 1, T0.toEpochMilli(), T0.toEpochMilli() + 30_000).toJson());
        result(id, 0, 1);
        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(200);

        advance(Duration.ofSeconds(30).plus(SCAN));
        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(404);
        result(id, 0, 2); // a late reply adds nothing to an expired job
        assertThat(count(items)).isEqualTo(1);
        assertThat(counter("kinfer.jobs.expired")).isZero();

        advance(Duration.ofMillis(Answer.PENDING_GRACE_MS));
        assertThat(jobs.get(id)).isNull();
        assertThat(count(items)).isZero();
        assertThat(count(expiry)).isZero();
        assertThat(counter("kinfer.jobs.expired")).isEqualTo(1);
        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(404);
    }

    @Test
    void resultsWhosePlaceholderWasLostInACrashStillCompleteTheirJob() {
        String id = ids.next(T0.toEpochMilli());
        result(id, 0, 1);
        // As after a crash between writing item 0 and its placeholder: the item is stored, the placeholder not.
        jobs.delete(id);

        result(id, 0, 1); // the redelivery rebuilds the placeholder, counting the stored item
        assertThat(jobs.get(id).known()).isFalse();
        assertThat(jobs.get(id).done()).isEqualTo(1);

        jobs.delete(id); // lost again: the metadata counts what the items store holds all the same
        jobsTopic.pipeInput(id, job(id, 2, T0.toEpochMilli(), T0.toEpochMilli() + RETENTION_MS).toJson());
        assertThat(jobs.get(id).done()).isEqualTo(1);
        result(id, 1, 2);

        JobViews.JobView view = view(id).orElseThrow();
        assertThat(view.record().complete()).isTrue();
        assertThat(view.results()).hasSize(2);
    }

    @Test
    void aJobWhoseExpiryEntryWasLostInACrashIsStillDeletedOnceItsMetadataIsRedelivered() {
        String id = submit(1);
        result(id, 0, 1);
        // As after a crash between the metadata's two writes: the record is stored, its expiry entry not.
        expiry.delete(JobsTopology.expiryKey(T0.toEpochMilli() + RETENTION_MS, id));

        jobsTopic.pipeInput(id, job(id, 1, T0.toEpochMilli(), T0.toEpochMilli() + RETENTION_MS).toJson());
        advance(Duration.ofMillis(RETENTION_MS).plus(SCAN));

        assertThat(jobs.get(id)).isNull();
        assertThat(count(items)).isZero();
        assertThat(count(expiry)).isZero();
    }

    @Test
    void itemsWhosePlaceholderWasLostAreDeletedWhenItWouldHaveExpired() {
        String id = ids.next(T0.toEpochMilli());
        result(id, 0, 1);
        jobs.delete(id); // the placeholder lost, its expiry entry and item kept

        advance(Duration.ofMillis(RETENTION_MS).plus(SCAN));

        assertThat(count(items)).isZero();
        assertThat(count(expiry)).isZero();
        assertThat(counter("kinfer.jobs.expired")).as("a placeholder was never a job").isZero();
    }

    @Test
    void aPlaceholderWhoseMetadataNeverCameAnswers404AfterTheCreationGrace() {
        String id = ids.next(T0.toEpochMilli());
        result(id, 0, 1); // e.g. a POST that failed after sending this item: its metadata is never written
        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(202);

        advance(Duration.ofMillis(Answer.PENDING_GRACE_MS));

        assertThat(view(id)).isPresent(); // kept until its expiry deletes it, but not "pending" any more
        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(404);
    }

    @Test
    void aCompleteJobWhoseItemsExpiryIsDeletingAnswers404NotPartialResults() {
        String id = submit(2);
        result(id, 0, 1);
        result(id, 1, 2);
        items.delete(JobsTopology.itemKey(id, 1)); // as the punctuator does, between a reader's two reads

        assertThat(Answer.job(id, view(id), wallClock, RETENTION_MS).status()).isEqualTo(404);
    }

    @Test
    void resultsOfIdsFromFarAheadOfTheClockAndMetadataPastItsExpiryAreDropped() {
        String future = ids.next(T0.toEpochMilli() + Duration.ofHours(2).toMillis());
        result(future, 0, 1);
        String replayed = ids.next(T0.toEpochMilli() - 2 * RETENTION_MS);
        jobsTopic.pipeInput(replayed, job(replayed, 1, T0.toEpochMilli() - 2 * RETENTION_MS,
                T0.toEpochMilli() - RETENTION_MS).toJson());

        assertThat(count(jobs)).isZero();
        assertThat(count(items)).isZero();
        assertThat(count(expiry)).isZero();
        assertThat(registry.get("kinfer.jobs.records.dropped").tag("reason", "bad_result").counter().count())
                .isEqualTo(1);
        assertThat(registry.get("kinfer.jobs.records.dropped").tag("reason", "expired").counter().count())
                .isEqualTo(1);
    }

    private static JobSubmitted job(String id, int total, long createdMs, long expiresMs) {
        return new JobSubmitted(id, "echo", null, total, createdMs, expiresMs, null);
    }

    @Test
    void anUnknownJobIsAbsentAndMalformedRecordsAreDropped() {
        jobsTopic.pipeInput("x", "{\"job_id\":\"nope\"}".getBytes());
        resultsTopic.pipeInput("no-index", "{}".getBytes());
        resultsTopic.pipeInput(null, "{}".getBytes());

        assertThat(view(ids.next(T0.toEpochMilli()))).isEmpty();
        assertThat(count(jobs)).isZero();
        assertThat(registry.get("kinfer.jobs.records.dropped").tag("reason", "bad_job").counter().count())
                .isEqualTo(1);
        assertThat(registry.get("kinfer.jobs.records.dropped").tag("reason", "bad_result").counter().count())
                .isEqualTo(2);
    }

    private static int count(KeyValueStore<String, ?> store) {
        int n = 0;
        try (KeyValueIterator<String, ?> it = store.all()) {
            while (it.hasNext()) {
                KeyValue<String, ?> ignored = it.next();
                n++;
            }
        }
        return n;
    }
}
