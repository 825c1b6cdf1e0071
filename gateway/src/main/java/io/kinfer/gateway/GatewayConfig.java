package io.kinfer.gateway;

import static org.apache.kafka.common.config.ConfigDef.Importance.HIGH;
import static org.apache.kafka.common.config.ConfigDef.Importance.LOW;
import static org.apache.kafka.common.config.ConfigDef.Importance.MEDIUM;
import static org.apache.kafka.common.config.ConfigDef.Range.atLeast;
import static org.apache.kafka.common.config.ConfigDef.Range.between;

import java.util.List;
import java.util.Map;

import io.kinfer.client.ClientConfig;
import io.kinfer.config.ApiKeys;
import io.kinfer.protocol.ProtocolLimits;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigException;

/**
 * The gateway's settings. The same settings map also configures its {@link ClientConfig} (reply topic, in-flight
 * limit, Kafka passthrough), so one file, one environment and one set of flags configure the whole process.
 */
public final class GatewayConfig extends AbstractConfig {

    public static final String HOST = "gateway.host";
    public static final String PORT = "gateway.port";
    public static final String BODY_LIMIT_BYTES = "gateway.body.limit.bytes";
    public static final String DEFAULT_MODEL = "gateway.default.model";
    public static final String TIMEOUT_MS = "gateway.timeout.ms";
    public static final String MAX_TIMEOUT_MS = "gateway.max.timeout.ms";
    public static final String MAX_BATCH_TEXTS = "gateway.max.batch.texts";
    public static final String MAX_TENSOR_ELEMENTS = ProtocolLimits.MAX_TENSOR_ELEMENTS;
    public static final String MAX_INPUTS = ProtocolLimits.MAX_INPUTS;
    public static final String MAX_TEXT_CHARS = ProtocolLimits.MAX_TEXT_CHARS;
    public static final String MAX_PRIORITY = "gateway.max.priority";
    public static final String API_KEYS = "gateway.api.keys";
    public static final String API_KEYS_FILE = "gateway.api.keys.file";
    public static final String PUBLIC_OPS = "gateway.public.ops";
    public static final String EVENT_LOOPS = "gateway.event.loops";
    public static final String SHUTDOWN_TIMEOUT_MS = "gateway.shutdown.timeout.ms";

    public static final ConfigDef DEFINITION = new ConfigDef()
            .define(HOST, Type.STRING, "127.0.0.1", HIGH, "Address the HTTP server binds (0.0.0.0 in containers).")
            .define(PORT, Type.INT, 8080, between(0, 65535), HIGH, "HTTP port; 0: any free port.")
            .define(BODY_LIMIT_BYTES, Type.LONG, 1_048_576L, between(1024, 1L << 30), MEDIUM,
                    "Largest request body; larger ones get 413 without being buffered whole.")
            .define(DEFAULT_MODEL, Type.STRING, "sentiment", MEDIUM, "Model of /predict and /predict_batch calls "
                    + "that name none.")
            .define(TIMEOUT_MS, Type.LONG, 30_000L, between(1, 3_600_000), HIGH, "Default time a call waits for its "
                    + "reply (then 504); a call may ask for another with the kinfer-timeout-ms header or a "
                    + "timeout_ms field, capped by gateway.max.timeout.ms.")
            .define(MAX_TIMEOUT_MS, Type.LONG, 120_000L, between(1, 3_600_000), MEDIUM,
                    "Longest timeout a call may ask for.")
            .define(MAX_BATCH_TEXTS, Type.INT, 256, between(1, 100_000), MEDIUM,
                    "Most texts in one /predict_batch or OIP infer call (413 beyond); each goes to Kafka as a "
                    + "request of its own, so this bounds the call, not a request.")
            .define(MAX_INPUTS, Type.INT, ProtocolLimits.DEFAULTS.maxInputs(), atLeast(1), MEDIUM,
                    "Most rows of an OIP input tensor, one request (413 beyond); the same key the workers read, so "
                    + "one setting raises both.")
            .define(MAX_TEXT_CHARS, Type.INT, ProtocolLimits.DEFAULTS.maxTextChars(), atLeast(1), MEDIUM,
                    "Longest text in characters (413 beyond); the same key the workers read, so one setting raises "
                    + "both.")
            .define(MAX_TENSOR_ELEMENTS, Type.LONG, ProtocolLimits.DEFAULTS.maxTensorElements(), atLeast(1), MEDIUM,
                    "Most elements in one OIP input tensor (413 beyond); the same key the workers read, so one "
                    + "setting raises both.")
            .define(MAX_PRIORITY, Type.INT, 15, between(0, 15), MEDIUM, "Highest priority a call may ask for (the "
                    + "kinfer-priority header or a priority field); higher is lowered to it, as timeouts are to "
                    + "gateway.max.timeout.ms. 0: callers cannot jump the queue. Workers honour 0 to "
                    + "batch.priority.levels - 1 (at most 15).")
            .define(API_KEYS, Type.PASSWORD, null, MEDIUM, "Comma-separated API keys; when set (or "
                    + "gateway.api.keys.file), every call needs 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
            .define(API_KEYS_FILE, Type.STRING, "", MEDIUM, "File with one API key per line (# comments allowed).")
            .define(PUBLIC_OPS, Type.BOOLEAN, true, LOW, "Whether /metrics, the health endpoints and the status page "
                    + "stay open when API keys are set.")
            .define(EVENT_LOOPS, Type.INT, 0, atLeast(0), LOW, "Vert.x event-loop threads; 0: two per core.")
            .define(SHUTDOWN_TIMEOUT_MS, Type.LONG, 5_000L, between(0, 600_000), MEDIUM, "On SIGTERM: new calls get "
                    + "503 and readiness turns false at once; calls in flight get this long to be answered, then 503.");

    private final ClientConfig clientConfig;
    private final List<String> apiKeys;

    public GatewayConfig(Map<String, ?> settings) {
        super(DEFINITION, settings, false);
        this.clientConfig = new ClientConfig(settings);
        if (getLong(TIMEOUT_MS) > getLong(MAX_TIMEOUT_MS)) {
            throw new ConfigException(TIMEOUT_MS, getLong(TIMEOUT_MS), "must not exceed " + MAX_TIMEOUT_MS);
        }
        String csv = getPassword(API_KEYS) == null ? null : getPassword(API_KEYS).value();
        String file = getString(API_KEYS_FILE);
        this.apiKeys = ApiKeys.parse(csv, file);
        // Fail closed: a keys setting that yields no key (an empty secret mounted as the file, a stray comma) would
        // otherwise leave every route open without a word. An empty gateway.api.keys still means "no keys".
        if (apiKeys.isEmpty() && file != null && !file.isBlank()) {
            throw new ConfigException(API_KEYS_FILE, file, "holds no key (only blank lines or comments), so "
                    + "authentication would be off; remove the setting to run without keys");
        }
        if (apiKeys.isEmpty() && csv != null && !csv.isBlank()) {
            throw new ConfigException(API_KEYS, "[hidden]", "holds no key (only commas and spaces), so "
                    + "authentication would be off; remove the setting to run without keys");
        }
    }

    /** The client part of the same settings. */
    public ClientConfig clientConfig() {
        return clientConfig;
    }

    /** API keys from the setting and the file, read once at start; empty when authentication is off. */
    public List<String> apiKeys() {
        return apiKeys;
    }
}
