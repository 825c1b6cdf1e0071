package io.kinfer.worker.reply;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Function;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.KinferHeaders;
import io.kinfer.protocol.RequestEnvelope;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Writes replies and dead letters. A reply goes to exactly the topic and partition the request asked for, keyed
 * by its correlation id; a request without a usable address is answered on the default reply topic by its
 * request id. Each call returns a stage that completes once the broker acknowledged the record (or fails), so the
 * caller commits or acknowledges only what is durable. Never blocks: unknown topics are checked asynchronously
 * first ({@link TopicChecker}), and a reply that waited for such a lookup is sent from the worker's own executor,
 * never from the Admin client's thread (a send may block up to {@code max.block.ms}, and that thread serves every
 * other lookup).
 */
public final class ReplySender {

    /** The reason on a dead letter whose reply could not be delivered (bad reply topic or partition). */
    public static final String REPLY_UNDELIVERABLE = "reply_undeliverable";
    /** The reason on a dead letter whose reply was larger than Kafka takes; its caller gets a short error reply. */
    public static final String REPLY_TOO_LARGE = "reply_too_large";
    /**
     * The reason on a dead letter whose reply (or dead letter) failed on every try its record was allowed
     * ({@code reply.failure.limit}, consumer-group modes): given up instead of fetched again forever.
     */
    public static final String REPLY_FAILED = "reply_failed";

    /** A {@link #REPLY_FAILED} dead letter's message: what happened, and the last failure, where one is known. */
    public static String replyFailedMessage(String what, String lastFailure) {
        return lastFailure == null ? what : what + "; the last failure: " + lastFailure;
    }

    /**
     * A failure and its root cause, for a dead letter's message: a send or commit in a doomed transaction fails with
     * Kafka's "in an error state", whose cause is the refusal that doomed it, the one worth reading.
     */
    public static String describe(Throwable failure) {
        Throwable root = failure;
        for (int depth = 0; root.getCause() != null && root.getCause() != root && depth < 10; depth++) {
            root = root.getCause();
        }
        return root == failure ? failure.toString() : failure + " (caused by " + root + ")";
    }
    /** Bytes a record takes beyond its key, value and headers, rounded up (a batch of one record: 61 + 21). */
    private static final int RECORD_OVERHEAD = 128;

    private final Producer<byte[], byte[]> producer;
    private final JsonCodec codec;
    private final TopicChecker topics;
    private final String deadLetterTopic;
    private final String workerId;
    private final int maxRecordBytes;
    private final Executor afterLookup;
    private static final Duration PARTITION_RECHECK_INTERVAL = Duration.ofSeconds(5);

    /**
     * maxRecordBytes: the producer's max.request.size; larger replies are refused here, before Kafka sees them.
     * afterLookup: where a reply whose topic had to be looked up is sent from (owned by the worker).
     */
    public ReplySender(Producer<byte[], byte[]> producer, JsonCodec codec, TopicChecker topics,
                       String deadLetterTopic, String workerId, int maxRecordBytes, Executor afterLookup) {
        this.maxRecordBytes = maxRecordBytes;
        this.afterLookup = afterLookup;
        this.producer = producer;
        this.codec = codec;
        this.topics = topics;
        this.deadLetterTopic = deadLetterTopic;
        this.workerId = workerId;
    }

    /**
     * Sends a reply; completes when acknowledged, fails with {@link UndeliverableReplyException} or Kafka's error.
     * {@code writtenEpochMs}, the request record's timestamp: a "missing" verdict on the reply topic older than the
     * request is looked up again (the topic may have been made since: a client restarted under its id).
     */
    public CompletionStage<Void> reply(RequestEnvelope to, InferenceReply reply, Headers requestHeaders,
                                       long writtenEpochMs) {
        Headers headers = new RecordHeaders();
        KinferHeaders.put(headers, KinferHeaders.CORRELATION_ID, to.correlationId());
        if (reply.error() != null) {
            KinferHeaders.put(headers, KinferHeaders.ERROR, reply.error().code().wireName());
        }
        if (requestHeaders != null) {
            for (String name : KinferHeaders.PASSED_THROUGH) {
                Header header = requestHeaders.lastHeader(name);
                if (header != null) {
                    headers.add(name, header.value());
                }
            }
        }
        byte[] key = to.correlationId().getBytes(StandardCharsets.UTF_8);
        byte[] value = codec.encodeReply(reply);
        long size = estimatedSize(key, value, headers);
        if (size > maxRecordBytes) {
            // Refused here, not by the producer: in a transaction a refused send would abort the whole poll, and
            // every retry would compute the same reply again.
            return CompletableFuture.failedFuture(new ReplyTooLargeException("the reply is about " + size
                    + " bytes, over the worker's max.request.size of " + maxRecordBytes + " bytes"));
        }
        Integer partition = to.replyPartition() == RequestEnvelope.ANY_PARTITION ? null : to.replyPartition();
        ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(to.replyTopic(), partition, key, value, headers);
        return whenKnown(topics.checkSince(to.replyTopic(), writtenEpochMs), state -> deliver(record, to, state, true));
    }

    /**
     * Continues at once when the lookup is already done (the usual case: a known topic), otherwise on the worker's
     * executor: a lookup completes on the Admin client's thread, which a send must not block.
     */
    private CompletionStage<Void> whenKnown(CompletionStage<TopicChecker.TopicState> lookup,
                                            Function<TopicChecker.TopicState, CompletionStage<Void>> then) {
        CompletableFuture<TopicChecker.TopicState> future = lookup.toCompletableFuture();
        if (!future.isDone()) {
            return future.thenComposeAsync(then, afterLookup);
        }
        try {
            return then.apply(future.join()); // a lookup never fails (TopicChecker.check)
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e); // as thenCompose would have it
        }
    }

    /** When a request record was written, for {@link #reply}: one without a timestamp trusts no earlier lookup. */
    public static long writtenAt(org.apache.kafka.clients.consumer.ConsumerRecord<?, ?> record) {
        return record.timestamp() < 0 ? Long.MAX_VALUE : record.timestamp();
    }

    /**
     * Why no reply to {@code to} can be delivered, when that is known already without waiting, from a lookup made
     * after the request was written ({@code writtenEpochMs}, its record's timestamp): its topic is missing or Kafka's
     * own. Empty while no such lookup is known (one is asked for, so that later requests are told at once) or when
     * the topic takes replies. Lets a worker dead-letter such a request before computing it: a backlog addressed to
     * clients long gone was computed in full, then dead-lettered.
     */
    public Optional<String> knownUndeliverable(RequestEnvelope to, long writtenEpochMs) {
        return topics.knownSince(to.replyTopic(), writtenEpochMs).flatMap(state -> undeliverable(to, state));
    }

    private static Optional<String> undeliverable(RequestEnvelope to, TopicChecker.TopicState state) {
        if (state.internal()) {
            return Optional.of("reply topic " + to.replyTopic() + " is internal to Kafka: no client may write to it");
        }
        if (state.missing()) {
            return Optional.of("reply topic " + to.replyTopic() + " does not exist");
        }
        return Optional.empty();
    }

    private CompletionStage<Void> deliver(ProducerRecord<byte[], byte[]> record, RequestEnvelope to,
                                          TopicChecker.TopicState state, boolean mayRecheck) {
        Optional<String> undeliverable = undeliverable(to, state);
        if (undeliverable.isPresent()) {
            return CompletableFuture.failedFuture(new UndeliverableReplyException(undeliverable.get()));
        }
        if (!state.exists()) {
            // Kafka did not answer the lookup: fail this reply so its record is redelivered, not dead-lettered.
            return CompletableFuture.failedFuture(new TimeoutException(
                    "reply topic " + to.replyTopic() + " could not be looked up"));
        }
        if (to.replyPartition() >= state.partitions()) {
            if (mayRecheck) {
                // Partitions may have been added since the count was remembered (a shared reply topic grown for
                // a new gateway instance): look once more before calling the partition undeliverable; at most
                // once per topic every few seconds, so bogus partition headers cannot flood the Admin client.
                return whenKnown(topics.recheck(to.replyTopic(), PARTITION_RECHECK_INTERVAL),
                        fresh -> deliver(record, to, fresh, false));
            }
            return CompletableFuture.failedFuture(new UndeliverableReplyException("reply partition "
                    + to.replyPartition() + " is not in topic " + to.replyTopic() + " (" + state.partitions()
                    + " partitions)"));
        }
        return send(record).exceptionallyCompose(error -> unlessDeleted(to.replyTopic(), error));
    }

    /**
     * A send that failed may have gone to a topic deleted after it was checked (a client that closed with calls
     * in flight deletes its reply topic; the producer then retries until its delivery timeout and says only
     * "expiring"). Look again: a topic that is gone makes the reply undeliverable (dead-lettered, so the record is
     * done); any other failure stands and the record is left for redelivery.
     */
    private CompletionStage<Void> unlessDeleted(String topic, Throwable error) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        if (!(cause instanceof TimeoutException
                || cause instanceof UnknownTopicOrPartitionException)) {
            return CompletableFuture.failedFuture(error); // not how a deleted topic shows
        }
        topics.forget(topic);
        return topics.check(topic).thenCompose(state -> state.missing()
                ? CompletableFuture.failedFuture(new UndeliverableReplyException("reply topic " + topic
                        + " was deleted before the reply reached it"))
                : CompletableFuture.failedFuture(error));
    }

    /**
     * Dead-letters a record's original bytes, with why and where from in headers. A record near Kafka's size limit
     * would not fit with those headers added, and Kafka refuses such a send for good: its dead letter could then
     * never be written, and its record never finished (a partition stalled behind it). Such a dead letter leaves
     * out the value, then the record's own headers, then its key, as far as needed, and says what it left out in
     * {@code kinfer-dlq-dropped}; where it came from is in its headers, to read the original there.
     */
    public CompletionStage<Void> deadLetter(ConsumerRecord<byte[], byte[]> record, String reason, String message) {
        Headers own = new RecordHeaders();
        KinferHeaders.put(own, KinferHeaders.DLQ_REASON, reason);
        KinferHeaders.put(own, KinferHeaders.DLQ_MESSAGE, message == null ? "" : message);
        KinferHeaders.put(own, KinferHeaders.DLQ_TOPIC, record.topic());
        KinferHeaders.put(own, KinferHeaders.DLQ_PARTITION, Integer.toString(record.partition()));
        KinferHeaders.put(own, KinferHeaders.DLQ_OFFSET, Long.toString(record.offset()));
        KinferHeaders.put(own, KinferHeaders.DLQ_WORKER, workerId);
        byte[] none = new byte[0];
        byte[] key = record.key() == null ? none : record.key();
        byte[] value = record.value() == null ? none : record.value();
        Headers headers = new RecordHeaders(record.headers().toArray());
        for (Header header : own) { // replacing any kinfer-dlq-* header the record carried
            headers.remove(header.key());
            headers.add(header);
        }
        List<String> dropped = new ArrayList<>(3);
        if (estimatedSize(key, value, headers) > maxRecordBytes) {
            dropped.add("value");
            if (estimatedSize(key, none, headers) > maxRecordBytes) {
                dropped.add("headers");
                headers = own;
                if (estimatedSize(key, none, headers) > maxRecordBytes) {
                    dropped.add("key");
                }
            }
            KinferHeaders.put(headers, KinferHeaders.DLQ_DROPPED, String.join(",", dropped));
        }
        return send(new ProducerRecord<>(deadLetterTopic, null, dropped.contains("key") ? null : record.key(),
                dropped.isEmpty() ? record.value() : null, headers));
    }

    public CompletionStage<Void> deadLetter(ConsumerRecord<byte[], byte[]> record, ErrorCode reason, String message) {
        return deadLetter(record, reason.wireName(), message);
    }

    private CompletionStage<Void> send(ProducerRecord<byte[], byte[]> record) {
        CompletableFuture<Void> acked = new CompletableFuture<>();
        try {
            producer.send(record, (metadata, error) -> {
                if (error == null) {
                    acked.complete(null);
                } else {
                    acked.completeExceptionally(error);
                }
            });
        } catch (RuntimeException e) {
            // send() throws for some faults (closed producer, serialization) instead of calling back.
            acked.completeExceptionally(e);
        }
        return acked;
    }

    /** An upper bound of the bytes a record takes in a produce request, as the producer checks it. */
    private static long estimatedSize(byte[] key, byte[] value, Headers headers) {
        long size = RECORD_OVERHEAD + key.length + value.length;
        for (Header header : headers) {
            size += 10 + header.key().length() * 3L + (header.value() == null ? 0 : header.value().length);
        }
        return size;
    }

    /** A reply larger than Kafka takes: its record gets a short error reply and a dead letter instead. */
    public static final class ReplyTooLargeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public ReplyTooLargeException(String message) {
            super(message);
        }
    }

    /** A reply that no retry can deliver: its topic or partition does not exist, or is Kafka's own. */
    public static final class UndeliverableReplyException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public UndeliverableReplyException(String message) {
            super(message);
        }
    }
}
