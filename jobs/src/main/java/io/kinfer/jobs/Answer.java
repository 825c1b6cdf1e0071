package io.kinfer.jobs;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * An HTTP answer, built where the data is (possibly on a worker thread, possibly on another instance) and
 * written on the event loop: a status, a JSON body, and the headers this API uses.
 */
record Answer(int status, byte[] body, String retryAfter, String location) {

    /**
     * A job created a moment ago may not be in its store yet: within this time it counts as pending. Long enough
     * to cover a failover (a crashed instance's session timeout, 45 s, and the rebalance after it) during which
     * results may be stored before their job's metadata; an id still without metadata after it is not a job (its
     * POST failed part-way), or no longer one.
     */
    static final long PENDING_GRACE_MS = 300_000;
    /** Ids from up to this far in the future (clock skew between instances) may still be pending. */
    private static final long CLOCK_SKEW_MS = 5_000;

    static Answer error(int status, String code, String message) {
        byte[] body = Json.write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("error", message);
            gen.writeStringField("code", code);
            gen.writeEndObject();
        });
        return new Answer(status, body, status == 503 || status == 429 ? "1" : null, null);
    }

    static Answer unavailable(String message) {
        return error(503, "unavailable", message);
    }

    /** 200 with the results when done, 202 with progress while pending, 404 when unknown or expired. */
    static Answer job(String jobId, Optional<JobViews.JobView> view, long nowMs, long retentionMs) {
        if (view.isEmpty()) {
            return justCreated(jobId, nowMs, retentionMs) ? pending(jobId, null, 0) : notFound(jobId);
        }
        JobRecord job = view.get().record();
        if (job.expiresMs() <= nowMs) {
            return notFound(jobId);
        }
        if (!job.known()) {
            // Results without their job's metadata: pending as long as a job not in its store yet would be. After
            // that the metadata is not coming (the POST failed after some items were sent, or the job expired
            // before a late reply came): 404 as for an unknown id, not "pending" until the placeholder expires.
            return justCreated(jobId, nowMs, retentionMs) ? pending(jobId, null, job.done()) : notFound(jobId);
        }
        if (!job.complete()) {
            return pending(jobId, job, job.done());
        }
        if (view.get().results().size() != job.total()) {
            // Items are written before the record that counts them, so only expiry deleting them as this read
            // ran can leave a complete job short of results: it is gone.
            return notFound(jobId);
        }
        byte[] body = Json.write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("job_id", jobId);
            gen.writeStringField("model", job.model());
            Json.writeOptional(gen, "version", job.version());
            gen.writeStringField("status", "done");
            gen.writeNumberField("total", job.total());
            gen.writeNumberField("failed", job.failed());
            gen.writeNumberField("created_ms", job.createdMs());
            gen.writeNumberField("completed_ms", job.completedMs());
            gen.writeNumberField("expires_ms", job.expiresMs());
            Json.writeOptional(gen, "callback", job.callback());
            gen.writeArrayFieldStart("results");
            for (byte[] item : view.get().results()) {
                // Stored items are JSON the processor wrote itself (see Items): copied, not parsed again.
                gen.writeRawValue(new String(item, StandardCharsets.UTF_8));
            }
            gen.writeEndArray();
            gen.writeEndObject();
        });
        return new Answer(200, body, null, null);
    }

    /** How long after its creation a job without metadata still reads as pending: the grace, or the retention. */
    static long pendingGraceMs(long retentionMs) {
        return Math.min(PENDING_GRACE_MS, retentionMs);
    }

    /** Whether a job id was created so recently that its metadata may still be on its way to its store. */
    private static boolean justCreated(String jobId, long nowMs, long retentionMs) {
        long created = JobIds.createdMs(jobId);
        return created <= nowMs + CLOCK_SKEW_MS && nowMs < created + pendingGraceMs(retentionMs);
    }

    private static Answer notFound(String jobId) {
        return error(404, "not_found", "no job " + jobId + ": unknown, or expired after its retention");
    }

    private static Answer pending(String jobId, JobRecord job, int done) {
        byte[] body = Json.write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("job_id", jobId);
            if (job != null) {
                gen.writeStringField("model", job.model());
            }
            gen.writeStringField("status", "pending");
            gen.writeNumberField("done", done);
            if (job != null) {
                gen.writeNumberField("total", job.total());
                gen.writeNumberField("created_ms", job.createdMs());
                gen.writeNumberField("expires_ms", job.expiresMs());
            } else {
                gen.writeNullField("total"); // not known here yet: the job's metadata is still on its way
            }
            gen.writeEndObject();
        });
        return new Answer(202, body, "1", null);
    }
}
