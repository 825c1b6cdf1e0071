package io.kinfer.jobs;

import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.streams.errors.DefaultProductionExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Skips, with a warning, a record Kafka refuses as too large, and handles every other failure as Streams does by
 * default. Failing the stream thread on such a record is no answer: the replacement thread meets the same input
 * and fails again, and the instance's job state stays down until the input leaves its topic. Results over the
 * limit are turned into error items before they get here ({@link JobsConfig#maxResultBytes()}); this catches what
 * grows past it on the way (a changelog write of a result just under the limit).
 */
public final class SkipTooLargeHandler extends DefaultProductionExceptionHandler {

    private static final Logger log = LoggerFactory.getLogger(SkipTooLargeHandler.class);

    @Override
    public Response handleError(ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record,
                                Exception exception) {
        if (exception instanceof RecordTooLargeException) {
            int bytes = record.value() == null ? 0 : record.value().length;
            if (record.topic().endsWith("-changelog")) {
                // The local store has it, its changelog not: a restore elsewhere would lack it. Still better than
                // a stream thread failing on it for good; said at ERROR, with what to raise.
                log.error("skipping a changelog record for {} that Kafka refuses as too large ({} value bytes): the "
                        + "store and its changelog now differ for it; raise jobs.streams.topic.max.message.bytes with "
                        + "jobs.streams.producer.max.request.size: {}", record.topic(), bytes, exception.getMessage());
            } else {
                log.warn("skipping a record for {} that Kafka refuses as too large ({} value bytes): {}",
                        record.topic(), bytes, exception.getMessage());
            }
            return Response.resume();
        }
        return super.handleError(context, record, exception);
    }
}
