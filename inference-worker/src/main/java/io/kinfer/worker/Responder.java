package io.kinfer.worker;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.ErrorInfo;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns every outcome into exactly one finished {@link RecordHandle}: a reply that Kafka acknowledged
 * ({@code answered}), a dead letter ({@code deadLettered}), or neither ({@code abandoned}, left for redelivery).
 * Invalid records get both an error reply (when they have a usable address) and a dead letter. Every follow-up of a
 * failure is guarded: should it throw, the record is left for redelivery rather than never finished.
 */
final class Responder {

    private static final Logger log = LoggerFactory.getLogger(Responder.class);

    /** The reason on a dead letter whose reply failed on the record's last allowed delivery (share groups). */
    static final String DELIVERY_LIMIT = "delivery_limit";

    private final ReplySender sender;
    private final WorkerMetrics metrics;
    /**
     * Where a failed reply's follow-up (an error reply, a dead letter), an invalid record's dead letter after its
     * error reply, and a reply that waited for its topic's lookup (ReplySender) are sent from: never a Kafka client's
     * thread, and rare, so one daemon thread for the whole JVM. It is never shut down, so nothing queued on it is
     * dropped at a worker's close (a send to a closed producer fails, and the record is left for redelivery).
     */
    static final Executor FOLLOW_UPS = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = new Thread(runnable, "kinfer-reply-failures");
        thread.setDaemon(true);
        return thread;
    });

    Responder(ReplySender sender, WorkerMetrics metrics) {
        this.sender = sender;
        this.metrics = metrics;
    }

    /**
     * Replies; a reply that cannot be delivered at all (bad topic or partition) is dead-lettered instead.
     * {@code replied} runs once Kafka has acknowledged the reply, and only then: it counts the request's outcome,
     * which counted when computed included replies never delivered (dead-lettered, or computed again).
     */
    void answer(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle, RequestEnvelope to,
                InferenceReply reply, Runnable replied) {
        sender.reply(to, reply, record.headers(), ReplySender.writtenAt(record)).whenComplete((ok, error) -> {
            if (error == null) {
                count(handle, replied);
                handle.answered();
            } else {
                // Kafka's callbacks run on its I/O thread: a follow-up send there could block it (a full buffer)
                // while only it can drain the buffer.
                RecordHandle once = new Once(handle);
                FOLLOW_UPS.execute(() -> safely(once, () -> replyFailed(model, record, once, to, reply, error)));
            }
        });
    }

    private void replyFailed(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                             RequestEnvelope to, InferenceReply reply, Throwable error) {
        Throwable cause = unwrap(error);
        if (cause instanceof ReplySender.ReplyTooLargeException || cause instanceof RecordTooLargeException
                || cause instanceof RecordBatchTooLargeException) {
            // Sending it again would fail again: the caller gets a short error reply saying why.
            log.warn("reply to {} for {}-{}@{} too large: {}", to.replyTopic(), record.topic(), record.partition(),
                    record.offset(), cause.getMessage());
            reject(model, record, handle, Optional.of(to), InferenceReply.failure(reply.id(), reply.model(),
                    reply.version(), new ErrorInfo(ErrorCode.INTERNAL, cause.getMessage()
                            + "; raise kafka.producer.max.request.size (and the reply topic's max.message.bytes)"
                            + " or send fewer rows per request"), reply.timings()), ReplySender.REPLY_TOO_LARGE,
                    () -> { }); // counted as its dead letter's reason, reply_too_large
        } else if (neverDeliverable(cause)) {
            if (!(cause instanceof ReplySender.UndeliverableReplyException)) {
                log.warn("reply to {} for {}-{}@{} refused by Kafka for good; dead-lettering it: {}", to.replyTopic(),
                        record.topic(), record.partition(), record.offset(), cause.toString());
            }
            deadLetter(model, record, handle, ReplySender.REPLY_UNDELIVERABLE, cause.getMessage());
        } else if (handle.lastDelivery()) {
            // Released now, the broker would archive the record with no answer: keep it as a dead letter.
            metrics.replyFailed(model);
            log.warn("reply to {} for {}-{}@{} failed on its last allowed delivery; dead-lettering it: {}",
                    to.replyTopic(), record.topic(), record.partition(), record.offset(), cause.toString());
            deadLetter(model, record, handle, DELIVERY_LIMIT, "the reply to " + to.replyTopic() + " failed on the"
                    + " record's last allowed delivery (the share group's share.delivery.count.limit): " + cause);
        } else {
            metrics.replyFailed(model);
            log.warn("reply to {} for {}-{}@{} failed, left for redelivery: {}", to.replyTopic(), record.topic(),
                    record.partition(), record.offset(), cause.toString());
            handle.abandoned("its reply to " + to.replyTopic() + " failed: " + ReplySender.describe(cause));
        }
    }

    /**
     * Whether no retry can deliver a reply that failed so: its topic or partition does not exist or is Kafka's
     * own, it is too large, or Kafka refused it with an error it does not call retriable (an ACL, an internal
     * topic, an invalid record). Failures of the producer itself (closed, its transaction in an error state, an
     * interrupt) are not the record's fault: such a record is fetched again, not dead-lettered.
     */
    static boolean neverDeliverable(Throwable cause) {
        return cause instanceof ReplySender.UndeliverableReplyException
                || cause instanceof ReplySender.ReplyTooLargeException
                || (cause instanceof ApiException && !(cause instanceof RetriableException));
    }

    /** Why no reply to {@code to} can be delivered, if known already without waiting (ReplySender). */
    Optional<String> knownUndeliverable(RequestEnvelope to, long writtenEpochMs) {
        return sender.knownUndeliverable(to, writtenEpochMs);
    }

    /** An invalid record: an error reply where an address exists, and always a dead letter. */
    void reject(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                Optional<RequestEnvelope> to, InferenceReply reply, Runnable replied) {
        reject(model, record, handle, to, reply, reply.error().code().wireName(), replied);
    }

    /**
     * The error reply first, then the dead letter. An error reply that failed but may still arrive (Kafka called
     * the failure retriable) leaves the record for redelivery, dead letter and all: dead-lettered now, its caller
     * would wait to the deadline for an answer it was owed. Only on a share-group record's last allowed delivery is
     * the dead letter written alone.
     */
    private void reject(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                        Optional<RequestEnvelope> to, InferenceReply reply, String reason, Runnable replied) {
        String message = reply.error().message();
        if (to.isEmpty()) {
            deadLetter(model, record, handle, reason, message);
            return;
        }
        RecordHandle once = new Once(handle);
        sender.reply(to.get(), reply, record.headers(), ReplySender.writtenAt(record)).whenComplete((ok, error) ->
                // Off Kafka's I/O thread, as in answer(): the dead letter is a send of its own.
                FOLLOW_UPS.execute(() -> safely(once, () -> errorReplied(model, record, once, to.get(), reason,
                        message, error, replied))));
    }

    private void errorReplied(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                              RequestEnvelope to, String reason, String message, Throwable error, Runnable replied) {
        if (error == null) {
            count(handle, replied);
            // Answered: a dead letter that fails now only loses the record's trace, not its answer.
            sender.deadLetter(record, reason, message).whenComplete((ok, dlqError) -> safely(handle, () -> {
                if (dlqError == null) {
                    count(handle, () -> metrics.deadLetter(model, reason));
                    handle.deadLettered();
                } else {
                    log.warn("dead letter for model {} failed after its error reply was acknowledged: {}", model,
                            unwrap(dlqError).toString());
                    handle.answered();
                }
            }));
            return;
        }
        Throwable cause = unwrap(error);
        if (!neverDeliverable(cause) && !handle.lastDelivery()) {
            metrics.replyFailed(model);
            log.warn("error reply to {} for {}-{}@{} failed, left for redelivery: {}", to.replyTopic(),
                    record.topic(), record.partition(), record.offset(), cause.toString());
            handle.abandoned("its error reply to " + to.replyTopic() + " failed: " + ReplySender.describe(cause));
            return;
        }
        deadLetter(model, record, handle, reason, message);
    }

    /**
     * Dead-letters a record without replying: its replies failed on every try it was allowed
     * ({@link ReplySender#REPLY_FAILED}), or it has no usable reply address.
     */
    void deadLetter(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle, String reason,
                    String message) {
        RecordHandle once = new Once(handle);
        sender.deadLetter(record, reason, message).whenComplete((ok, error) ->
                safely(once, () -> finishDeadLetter(model, once, reason, error)));
    }

    private void finishDeadLetter(String model, RecordHandle handle, String reason, Throwable error) {
        if (error == null) {
            count(handle, () -> metrics.deadLetter(model, reason));
            handle.deadLettered();
        } else if (neverDeliverable(unwrap(error))) {
            // Kafka refuses the dead letter for good (an ACL on the topic, its max.message.bytes): fetched again,
            // the record would be refused again, forever, and in a consumer group every record after it would wait
            // unanswered behind it. Given up, loudly, so that the partition moves on.
            metrics.replyFailed(model);
            // In a transaction the refusal aborts it, so this never counts: the intake gives the record up.
            count(handle, () -> metrics.givenUp(model));
            log.error("dead letter for model {} refused by Kafka for good ({}); giving the record up unanswered so "
                    + "that the records after it are served: fix the dead-letter topic ({})", model,
                    unwrap(error).toString(), reason);
            handle.answered();
        } else {
            metrics.replyFailed(model);
            if (handle.lastDelivery()) {
                log.error("dead letter for model {} failed on the record's last allowed delivery; the broker archives"
                        + " it unanswered (copied to the share group's dead-letter topic, if it has one): {}", model,
                        unwrap(error).toString());
            } else {
                log.warn("dead letter for model {} failed, left for redelivery: {}", model, unwrap(error).toString());
            }
            handle.abandoned("its dead letter (" + reason + ") failed: " + ReplySender.describe(unwrap(error)));
        }
    }

    /**
     * Counts a record's outcome once it is final ({@link RecordHandle#whenFinal}): a failure to count must not
     * change the outcome (its reply is in).
     */
    private static void count(RecordHandle handle, Runnable count) {
        try {
            handle.whenFinal(count); // run here, or queued for a commit that runs it guarded (PollCycle)
        } catch (RuntimeException e) {
            log.error("counting a record's outcome failed", e);
        }
    }

    /**
     * Runs a step of a failure's follow-up; if it throws (a bug), the record is left for redelivery rather than
     * never finished, which would stop its partition's commits (consumer groups) or hang its poll (share groups,
     * transactions) for good.
     */
    private static void safely(RecordHandle handle, Runnable step) {
        try {
            step.run();
        } catch (RuntimeException | Error e) {
            log.error("following up a failed reply failed unexpectedly; the record is left for redelivery", e);
            handle.abandoned();
        }
    }

    /**
     * Passes on only the first outcome, so that a safety net may finish a record whose follow-up had already
     * finished it (or will, from a callback) without giving it a second outcome.
     */
    private static final class Once implements RecordHandle {
        private final RecordHandle handle;
        private final AtomicBoolean finished = new AtomicBoolean();

        Once(RecordHandle handle) {
            this.handle = handle;
        }

        @Override
        public void answered() {
            if (finished.compareAndSet(false, true)) {
                handle.answered();
            }
        }

        @Override
        public void deadLettered() {
            if (finished.compareAndSet(false, true)) {
                handle.deadLettered();
            }
        }

        @Override
        public void abandoned() {
            if (finished.compareAndSet(false, true)) {
                handle.abandoned();
            }
        }

        @Override
        public void abandoned(String why) {
            if (finished.compareAndSet(false, true)) {
                handle.abandoned(why);
            }
        }

        @Override
        public boolean lastDelivery() {
            return handle.lastDelivery();
        }

        @Override
        public void whenFinal(Runnable count) {
            handle.whenFinal(count);
        }
    }

    static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    static CompletionStage<Void> done() {
        return CompletableFuture.completedFuture(null);
    }
}
