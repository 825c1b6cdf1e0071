package io.kinfer.worker;

import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;

import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.ErrorInfo;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.RequestEnvelope;
import io.kinfer.worker.intake.RecordHandle;
import io.kinfer.worker.reply.ReplySender;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RecordBatchTooLargeException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns every outcome into exactly one finished {@link RecordHandle}: a reply that Kafka acknowledged
 * ({@code answered}), a dead letter ({@code deadLettered}), or neither ({@code abandoned}, left for redelivery).
 * Invalid records get both an error reply (when they have a usable address) and a dead letter.
 */
final class Responder {

    private static final Logger log = LoggerFactory.getLogger(Responder.class);

    /** The reason on a dead letter whose reply failed on the record's last allowed delivery (share groups). */
    static final String DELIVERY_LIMIT = "delivery_limit";

    private final ReplySender sender;
    private final WorkerMetrics metrics;
    /**
     * Where a failed reply's follow-up (an error reply, a dead letter) is sent from: rare, so one daemon thread for
     * the whole JVM, which needs no closing however many workers it starts.
     */
    private static final Executor FAILURES = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = new Thread(runnable, "kinfer-reply-failures");
        thread.setDaemon(true);
        return thread;
    });

    Responder(ReplySender sender, WorkerMetrics metrics) {
        this.sender = sender;
        this.metrics = metrics;
    }

    /** Replies; a reply that cannot be delivered at all (bad topic or partition) is dead-lettered instead. */
    void answer(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle, RequestEnvelope to,
                InferenceReply reply) {
        sender.reply(to, reply, record.headers()).whenComplete((ok, error) -> {
            if (error == null) {
                handle.answered();
            } else {
                // Kafka's callbacks run on its I/O thread: a follow-up send there could block it (a full buffer)
                // while only it can drain the buffer.
                FAILURES.execute(() -> replyFailed(model, record, handle, to, reply, error));
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
                            + " or send fewer rows per request"), reply.timings()), ReplySender.REPLY_TOO_LARGE);
        } else if (cause instanceof ReplySender.UndeliverableReplyException || cause instanceof AuthorizationException) {
            metrics.deadLetter(model, ReplySender.REPLY_UNDELIVERABLE);
            sender.deadLetter(record, ReplySender.REPLY_UNDELIVERABLE, cause.getMessage())
                    .whenComplete((dlqOk, dlqError) -> finishDeadLetter(model, handle, dlqError));
        } else if (handle.lastDelivery()) {
            // Released now, the broker would archive the record with no answer: keep it as a dead letter.
            metrics.replyFailed(model);
            metrics.deadLetter(model, DELIVERY_LIMIT);
            log.warn("reply to {} for {}-{}@{} failed on its last allowed delivery; dead-lettering it: {}",
                    to.replyTopic(), record.topic(), record.partition(), record.offset(), cause.toString());
            sender.deadLetter(record, DELIVERY_LIMIT, "the reply to " + to.replyTopic() + " failed on the record's"
                            + " last allowed delivery (the share group's share.delivery.count.limit): " + cause)
                    .whenComplete((dlqOk, dlqError) -> finishDeadLetter(model, handle, dlqError));
        } else {
            metrics.replyFailed(model);
            log.warn("reply to {} for {}-{}@{} failed, left for redelivery: {}", to.replyTopic(), record.topic(),
                    record.partition(), record.offset(), cause.toString());
            handle.abandoned();
        }
    }

    /** An invalid record: an error reply where an address exists, and always a dead letter. */
    void reject(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                Optional<RequestEnvelope> to, InferenceReply reply) {
        reject(model, record, handle, to, reply, reply.error().code().wireName());
    }

    private void reject(String model, ConsumerRecord<byte[], byte[]> record, RecordHandle handle,
                        Optional<RequestEnvelope> to, InferenceReply reply, String reason) {
        metrics.deadLetter(model, reason);
        CompletableFuture<Boolean> replied = to.map(address -> sender.reply(address, reply, record.headers())
                        .handle((ok, error) -> error == null).toCompletableFuture())
                .orElse(CompletableFuture.completedFuture(false));
        CompletableFuture<Throwable> deadLettered = sender.deadLetter(record, reason, reply.error().message())
                .handle((ok, error) -> error).toCompletableFuture();
        replied.thenCombine(deadLettered, (replyOk, dlqError) -> {
            if (dlqError == null) {
                handle.deadLettered();
            } else if (replyOk) {
                handle.answered();
            } else {
                finishDeadLetter(model, handle, dlqError);
            }
            return null;
        });
    }

    private void finishDeadLetter(String model, RecordHandle handle, Throwable error) {
        if (error == null) {
            handle.deadLettered();
        } else {
            metrics.replyFailed(model);
            if (handle.lastDelivery()) {
                log.error("dead letter for model {} failed on the record's last allowed delivery; the broker archives"
                        + " it unanswered (copied to the share group's dead-letter topic, if it has one): {}", model,
                        unwrap(error).toString());
            } else {
                log.warn("dead letter for model {} failed, left for redelivery: {}", model, unwrap(error).toString());
            }
            handle.abandoned();
        }
    }

    static Throwable unwrap(Throwable error) {
        return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    }

    static CompletionStage<Void> done() {
        return CompletableFuture.completedFuture(null);
    }
}
