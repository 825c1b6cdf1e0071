package io.kinfer.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.protocol.Topics;

/**
 * A job's metadata, the value of its record on {@code kinfer.jobs} (key: the job id). Its items are requests
 * {@code <jobId>:<index>} whose replies go to {@code kinfer.jobs.results}.
 *
 * @param callback an http(s) URL to call when the job is done; stored and returned, not called yet
 */
record JobSubmitted(String jobId, String model, String version, int total, long createdMs, long expiresMs,
                    String callback) implements JobEvent {

    byte[] toJson() {
        return Json.write(gen -> {
            gen.writeStartObject();
            gen.writeStringField("job_id", jobId);
            gen.writeStringField("model", model);
            Json.writeOptional(gen, "version", version);
            gen.writeNumberField("total", total);
            gen.writeNumberField("created_ms", createdMs);
            gen.writeNumberField("expires_ms", expiresMs);
            Json.writeOptional(gen, "callback", callback);
            gen.writeEndObject();
        });
    }

    /** Reads and checks a record value; {@link IllegalArgumentException} says what is wrong. */
    static JobSubmitted fromJson(byte[] value) {
        JsonNode node = Json.readObject(value);
        String jobId = node.path("job_id").asText("");
        if (!JobIds.isValid(jobId)) {
            throw new IllegalArgumentException("job_id must be " + JobIds.describeFormat());
        }
        String model = node.path("model").asText("");
        if (!Topics.isValidModelName(model)) {
            throw new IllegalArgumentException("invalid model name");
        }
        int total = node.path("total").asInt(0);
        if (total < 1 || total > JobsConfig.MAX_ITEMS_LIMIT) {
            throw new IllegalArgumentException("total must be 1 to " + JobsConfig.MAX_ITEMS_LIMIT);
        }
        long created = node.path("created_ms").asLong(0);
        long expires = node.path("expires_ms").asLong(0);
        if (created <= 0 || expires <= created || expires > JobsTopology.MAX_EXPIRES_MS) {
            throw new IllegalArgumentException("created_ms and expires_ms must be positive, expires after created"
                    + " and before " + (JobsTopology.MAX_EXPIRES_MS + 1) + " (the year 2286)");
        }
        return new JobSubmitted(jobId, model, Json.optionalText(node, "version"), total, created, expires,
                Json.optionalText(node, "callback"));
    }
}
