package io.kinfer.jobs;

import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * An HTTP answer, built where the data is (possibly on a worker thread, possibly on another instance) and
 * written on the event loop: a status, a JSON body, and the headers this API uses.
 */
record Answer(int status, byte[] body, String retryAfter, String location) {

    /** A job created a moment ago may not be in its store yet: within this time it counts as pending. */
    static final long PENDING_GRACE_MS = 60_000;
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
            long created = JobIds.createdMs(jobId);
            if (created <= nowMs + CLOCK_SKEW_MS && nowMs < created + Math.min(PENDING_GRACE_MS, retentionMs)) {
                return pending(jobId, null, 0);
            }
            return notFound(jobId);
        }
        JobRecord job = view.get().record();
        if (job.expiresMs() <= nowMs) {
            return notFound(jobId);
        }
        if (!job.known()) {
            return pending(jobId, null, job.done());
        }
        if (!job.complete()) {
            return pending(jobId, job, job.done());
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
