package io.kinfer.gateway;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

import io.kinfer.protocol.ModelAnnouncement;
import io.kinfer.protocol.ModelMetadata;
import io.vertx.core.Vertx;
import io.vertx.ext.web.RoutingContext;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * The live view at {@code /}: a small page that polls {@code /status.json} every second. The gateway's side
 * (throughput, latency percentiles, errors, calls in flight) comes from its own per-second samples; the workers'
 * side (queue depth, consumer lag, batch sizes, throughput per worker) from the running totals they announce on the
 * catalog topic, turned into rates between announcements. No extra scraping, no extra infrastructure.
 */
final class StatusPage {

    private static final int HISTORY_SECONDS = 120;

    private final ModelCatalog catalog;
    private final java.util.function.IntSupplier inFlight;
    private final Recorder latency = new Recorder(3_600_000_000L, 2);
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final ArrayDeque<Map<String, Object>> timeline = new ArrayDeque<>();
    private final Map<String, ModelAnnouncement> previous = new HashMap<>();
    private final Map<String, Map<String, Double>> rates = new HashMap<>();
    private final long started = System.currentTimeMillis();
    private final byte[] html;
    private Histogram interval;
    private long lastErrors;
    private long lastRequests;

    StatusPage(Vertx vertx, ModelCatalog catalog, java.util.function.IntSupplier inFlight) {
        this.catalog = catalog;
        this.inFlight = inFlight;
        try (InputStream in = StatusPage.class.getClassLoader().getResourceAsStream("kinfer/status.html")) {
            this.html = in.readAllBytes();
        } catch (IOException | NullPointerException e) {
            throw new UncheckedIOException(new IOException("kinfer/status.html is missing from the jar", e));
        }
        vertx.setPeriodic(1000, id -> sample());
    }

    /** Called for every answered API call (not for the page or metrics themselves). */
    void record(long nanos, int status) {
        latency.recordValue(Math.max(1, Math.min(3_600_000_000L, nanos / 1000)));
        requests.incrementAndGet();
        if (status >= 500) {
            errors.incrementAndGet();
        }
    }

    private synchronized void sample() {
        interval = latency.getIntervalHistogram(interval);
        long total = requests.get();
        long errorTotal = errors.get();
        Map<String, Object> point = new HashMap<>();
        point.put("t", System.currentTimeMillis() / 1000);
        point.put("rps", total - lastRequests);
        point.put("p50_ms", interval.getTotalCount() == 0 ? 0 : interval.getValueAtPercentile(50) / 1000.0);
        point.put("p90_ms", interval.getTotalCount() == 0 ? 0 : interval.getValueAtPercentile(90) / 1000.0);
        point.put("p99_ms", interval.getTotalCount() == 0 ? 0 : interval.getValueAtPercentile(99) / 1000.0);
        point.put("errors", errorTotal - lastErrors);
        lastRequests = total;
        lastErrors = errorTotal;
        timeline.addLast(point);
        while (timeline.size() > HISTORY_SECONDS) {
            timeline.removeFirst();
        }
        for (ModelAnnouncement a : catalog.liveAnnouncements()) {
            ModelAnnouncement before = previous.put(a.key(), a);
            if (before != null && a.timestampMs() > before.timestampMs()) {
                double seconds = (a.timestampMs() - before.timestampMs()) / 1000.0;
                Map<String, Double> r = new TreeMap<>();
                r.put("requests_per_s", delta(a, before, "requests_total") / seconds);
                double batches = delta(a, before, "batches_total");
                r.put("mean_batch", batches == 0 ? 0 : delta(a, before, "batch_rows_total") / batches);
                r.put("inference_ms", batches == 0 ? 0 : delta(a, before, "inference_seconds_total") * 1000 / batches);
                double queued = delta(a, before, "queued_total");
                r.put("queue_ms", queued == 0 ? 0 : delta(a, before, "queue_seconds_total") * 1000 / queued);
                rates.put(a.key(), r);
            }
        }
    }

    private static double delta(ModelAnnouncement now, ModelAnnouncement before, String key) {
        return Math.max(0, now.stats().getOrDefault(key, 0.0) - before.stats().getOrDefault(key, 0.0));
    }

    void handlePage(RoutingContext ctx) {
        ctx.response().putHeader("Content-Type", "text/html; charset=utf-8").end(io.vertx.core.buffer.Buffer.buffer(html));
    }

    synchronized void handleJson(RoutingContext ctx) {
        List<ModelAnnouncement> live = catalog.liveAnnouncements();
        Responses.json(ctx, 200, gen -> {
            gen.writeStartObject();
            gen.writeObjectFieldStart("gateway");
            gen.writeNumberField("uptime_s", (System.currentTimeMillis() - started) / 1000);
            gen.writeNumberField("inflight", inFlight.getAsInt());
            gen.writeNumberField("requests_total", requests.get());
            gen.writeNumberField("errors_total", errors.get());
            gen.writeEndObject();
            gen.writeArrayFieldStart("timeline");
            for (Map<String, Object> point : timeline) {
                gen.writeStartObject();
                for (Map.Entry<String, Object> e : new TreeMap<>(point).entrySet()) {
                    gen.writeFieldName(e.getKey());
                    gen.writeNumber(((Number) e.getValue()).doubleValue());
                }
                gen.writeEndObject();
            }
            gen.writeEndArray();
            gen.writeArrayFieldStart("models");
            for (String model : catalog.models()) {
                gen.writeStartObject();
                gen.writeStringField("model", model);
                gen.writeArrayFieldStart("versions");
                for (ModelMetadata version : catalog.versions(model)) {
                    gen.writeString(version.version());
                }
                gen.writeEndArray();
                gen.writeBooleanField("ready", catalog.ready(model, null));
                gen.writeArrayFieldStart("workers");
                for (ModelAnnouncement a : live) {
                    if (!a.model().equals(model)) {
                        continue;
                    }
                    gen.writeStartObject();
                    gen.writeStringField("worker", a.worker());
                    for (String level : List.of("queue_depth", "consumer_lag", "inflight")) {
                        gen.writeNumberField(level, a.stats().getOrDefault(level, 0.0));
                    }
                    for (Map.Entry<String, Double> rate : rates.getOrDefault(a.key(), Map.of()).entrySet()) {
                        gen.writeNumberField(rate.getKey(), Math.round(rate.getValue() * 100) / 100.0);
                    }
                    gen.writeEndObject();
                }
                gen.writeEndArray();
                gen.writeEndObject();
            }
            gen.writeEndArray();
            gen.writeEndObject();
        });
    }
}
