package io.kinfer.client.cli;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.client.InferenceException;
import io.kinfer.config.ConfigOptions;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolLimits;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Topics;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * {@code kinfer produce}: batch work for upstream systems. Reads JSON lines (wire-format requests, or the short
 * forms {@code {"text": ...}} / {@code {"texts": [...]}}), publishes them to {@code kinfer.requests.<model>},
 * and with {@code --wait} collects the replies and writes them as JSON lines; prints progress and a summary by
 * outcome.
 */
@Command(name = "produce", mixinStandardHelpOptions = true,
        description = {"Publishes prediction requests from JSON lines (a file or stdin) to Kafka; with --wait, "
                + "writes each reply as a JSON line.",
                "A line is a request {\"id\", \"model\", \"inputs\": [...]} or a short form {\"text\": ...} / "
                        + "{\"texts\": [...]} (id and model optional)."})
public final class ProduceCommand implements Callable<Integer> {

    @Mixin
    ConfigOptions configOptions;

    @Option(names = {"-i", "--input"}, defaultValue = "-", description = "JSON lines to read; - for stdin "
            + "(default).")
    String input;

    @Option(names = {"-o", "--output"}, defaultValue = "-", description = "Where --wait writes replies; - for "
            + "stdout (default).")
    String output;

    @Option(names = {"-m", "--model"}, defaultValue = "sentiment", description = "Model of lines that name none. "
            + "Default: ${DEFAULT-VALUE}.")
    String model;

    @Option(names = {"-w", "--wait"}, description = "Wait for each reply and write it (request-reply); without it, "
            + "fire-and-forget.")
    boolean waitForReplies;

    @Option(names = "--reply-topic", description = "Fire-and-forget: where the workers should reply "
            + "(default: kinfer.replies).")
    String replyTopic;

    @Option(names = "--rate", description = "At most this many requests per second (default: as fast as Kafka "
            + "takes them).")
    Double rate;

    @Option(names = "--timeout", defaultValue = "30000", description = "Per-request timeout in ms with --wait "
            + "(the request's deadline). Default: ${DEFAULT-VALUE}.")
    long timeoutMs;

    @Option(names = "--max-in-flight", defaultValue = "1000", description = "Requests outstanding at once. "
            + "Default: ${DEFAULT-VALUE}.")
    int maxInFlight;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
    boolean quiet;

    @Spec
    CommandSpec spec;

    /** How long making a --wait client may take before the command says what it waits for. */
    static final Duration SLOW_START = Duration.ofSeconds(2);

    /** On SIGINT or SIGTERM, calls in flight get this long before the client closes and the summary is printed. */
    static final Duration SHUTDOWN_GRACE = Duration.ofSeconds(5);

    /** Where "-" reads from, and where progress and the summary go: the process's own, but for tests. */
    InputStream stdin = System.in;
    PrintStream err = System.err;

    /** Checks each line as a worker would; built from the settings (protocol.max.*) in {@link #call}. */
    private JsonCodec codec = new JsonCodec();
    private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    /** Non-blank lines read so far (on the reading thread). */
    private volatile long lines;
    /** Set by {@link #stop}: no further line is read or sent. */
    private volatile boolean stopping;
    /**
     * The run is ended once, by whichever of the end of input and the shutdown hook comes first; the other waits on
     * {@link #end}'s lock until it is done. Guarded by this.
     */
    private boolean ended;
    /** Flushing the replies failed as the run ended: the run fails with it (the shutdown hook ignores it). */
    private volatile IOException flushFailure;
    /** Set once the client is made; a stop before it has nothing to wait for. */
    private volatile Run run;

    /** What one run holds, for its end: the normal one or the shutdown hook's. */
    private record Run(InferenceClient client, Semaphore slots, int window, ExecutorService writing, Writer out,
                       ProgressBar progress, long started) {
    }

    @Override
    public Integer call() throws Exception {
        if (replyTopic != null && !Topics.isValidTopicName(replyTopic)) {
            // The workers could only dead-letter every line: refused before anything is sent.
            throw new ParameterException(spec.commandLine(), "--reply-topic '" + replyTopic
                    + "' is not a valid Kafka topic name");
        }
        // --timeout, when given, sits between the environment and --set, as every command's named flags do.
        Map<String, String> flags = new LinkedHashMap<>();
        if (spec.commandLine().getParseResult().hasMatchedOption("--timeout")) {
            flags.put(ClientConfig.REQUEST_TIMEOUT_MS, Long.toString(timeoutMs));
        }
        Map<String, String> settings = configOptions.load(flags);
        codec = new JsonCodec(limits(settings));
        Map<String, Object> clientSettings = new LinkedHashMap<>(settings);
        clientSettings.putIfAbsent(ClientConfig.REQUEST_TIMEOUT_MS, Long.toString(timeoutMs));
        Duration callTimeout = Duration.ofMillis(Long.parseLong(String.valueOf(
                clientSettings.get(ClientConfig.REQUEST_TIMEOUT_MS)).trim()));
        int window = Math.max(maxInFlight, 1);
        // The client's own bound must not fail the window's calls as overloaded (a shared config's small
        // max.in.flight.requests did). The window is enough: a call's slot in the client is free before its future
        // completes, so before this command's slot comes back.
        long configured = settings.containsKey(ClientConfig.MAX_IN_FLIGHT)
                ? Long.parseLong(settings.get(ClientConfig.MAX_IN_FLIGHT).trim()) : 0;
        clientSettings.put(ClientConfig.MAX_IN_FLIGHT, Long.toString(Math.min(Integer.MAX_VALUE,
                Math.max(configured, window))));
        // Lines are read, sent and forgotten one by one (stdin streams; a file of any size fits): a regular file
        // is counted first only for the progress bar's total (a pipe or FIFO would be used up by counting).
        long total = "-".equals(input) || !Files.isRegularFile(Path.of(input)) ? -1 : countLines(Path.of(input));
        ProgressBar progress = new ProgressBar(err, total, !quiet);
        Semaphore slots = new Semaphore(window);
        long started = System.nanoTime();
        // Replies are written on a thread of their own: a slow reader of stdout must not stall the client's reply
        // thread, which would delay every other reply (and time calls out).
        ExecutorService writing = Executors.newSingleThreadExecutor(task -> {
            Thread thread = new Thread(task, "kinfer-produce-writer");
            thread.setDaemon(true);
            return thread;
        });
        ClientConfig clientConfig = new ClientConfig(clientSettings);
        // Without --wait nothing reads replies: no reply topic (nor the right to create one), no reply consumer.
        Thread hook = new Thread(() -> stop(SHUTDOWN_GRACE), "kinfer-produce-shutdown");
        try (InferenceClient client = connect(clientConfig);
             Writer out = waitForReplies ? writer() : Writer.nullWriter();
             Utf8Lines reader = reader()) {
            run = new Run(client, slots, window, writing, out, progress, started);
            // SIGINT or SIGTERM: the JVM exits once the hook returns, so the hook ends the run itself.
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                sendAll(reader, client, out, writing, slots, progress, started, callTimeout);
            } catch (IOException | java.io.UncheckedIOException e) {
                // Say so and finish what was sent: the summary counts it, and the exit code is 1.
                count("read_error");
                err.printf("%ninput stopped: %s (%d request line(s) read before it)%n", e.getMessage(), lines);
            }
            // Every slot back: every call has ended (or a signal's end closed the client, which failed them).
            slots.acquire(window);
            slots.release(window);
            end(run, Duration.ZERO);
            if (flushFailure != null) {
                throw flushFailure;
            }
        } finally {
            writing.shutdown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException | IllegalArgumentException e) {
                // shutting down already (the hook runs), or never added (the client could not be made)
            }
        }
        return outcomes.keySet().stream().allMatch(k -> k.equals("success") || k.equals("published")) ? 0 : 1;
    }

    /**
     * Makes the client. A --wait client first makes its reply topic, which waits up to a minute for a Kafka that does
     * not answer: after {@link #SLOW_START} that wait is said, rather than passed in silence.
     */
    private InferenceClient connect(ClientConfig config) {
        if (!waitForReplies) {
            return InferenceClient.createFireAndForget(config); // nothing to wait for: its sends say it themselves
        }
        CompletableFuture<Void> started = new CompletableFuture<>();
        started.completeOnTimeout(null, SLOW_START.toMillis(), TimeUnit.MILLISECONDS).thenRun(() -> err.printf(
                "waiting for Kafka at %s...%n", config.getString(KafkaClientProperties.BOOTSTRAP_SERVERS)));
        try {
            return InferenceClient.create(config);
        } finally {
            started.cancel(false);
        }
    }

    /**
     * The shutdown hook's work, on SIGINT or SIGTERM (the JVM exits when it returns, whatever the reading thread is
     * doing): stops reading, then ends the run as {@link #end} does, giving the calls and sends in flight up to
     * {@code grace}; returns once the run has ended, whichever of the two ended it.
     */
    void stop(Duration grace) {
        stopping = true;
        Run current = run;
        if (current == null) {
            return; // the client was not made yet: nothing was sent
        }
        end(current, grace);
    }

    /**
     * Ends the run, once, whichever comes first: the end of input (every call has ended) or a signal. Calls still in
     * flight get up to {@code grace}; those still open then fail as the client closes (counted as {@code closed}).
     * The replies that came are written out and flushed, the summary printed, and the client closed (a --wait
     * client deletes its reply topic). A second caller returns once the first is done.
     */
    private synchronized void end(Run current, Duration grace) {
        if (ended) {
            return;
        }
        ended = true;
        boolean interrupted = false;
        long deadline = System.nanoTime() + grace.toNanos();
        try {
            if (current.slots().tryAcquire(current.window(), grace.toNanos(), TimeUnit.NANOSECONDS)) {
                current.slots().release(current.window()); // only waited for them; the reading thread may too
            } else {
                current.client().close(); // fails the calls still open, before they are counted
            }
            current.writing().shutdown();
            // Replies that came are written out, given a moment even when the grace is spent.
            current.writing().awaitTermination(Math.max(TimeUnit.SECONDS.toNanos(1),
                    deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
            current.client().close();
        }
        try {
            synchronized (current.out()) {
                current.out().flush();
            }
        } catch (IOException e) {
            flushFailure = e; // the reader of stdout is gone, or the output file cannot be written
        }
        current.progress().finish();
        printSummary(lines, (System.nanoTime() - current.started()) / 1e9);
        current.client().close(); // idempotent: a no-op when the grace ran out above
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Reads, parses, paces and sends line by line; each call gives its slot back when it ends. */
    private void sendAll(Utf8Lines reader, InferenceClient client, Writer out, ExecutorService writing,
                         Semaphore slots, ProgressBar progress, long started, Duration callTimeout)
            throws IOException, InterruptedException {
        long nextDue = started;
        String line;
        while (!stopping && (line = reader.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            lines++;
            InferenceRequest request;
            try {
                request = parse(line, lines);
            } catch (ProtocolException e) {
                count("invalid_line");
                err.printf("%nline %d skipped: %s%n", lines, e.getMessage());
                progress.step();
                continue;
            }
            nextDue = pace(nextDue);
            slots.acquire();
            if (stopping) {
                slots.release();
                count("not_sent");
                break;
            }
            CompletableFuture<Void> done = waitForReplies
                    ? client.request(request, callTimeout).thenAcceptAsync(reply -> {
                        write(out, codec.encodeReply(reply));
                        count(reply.error() == null ? "success" : "error_" + reply.error().code().wireName());
                    }, writing)
                    : client.submit(request, replyTopic == null ? Topics.DEFAULT_REPLY_TOPIC : replyTopic, 0,
                            Map.of()).thenRun(() -> count("published"));
            done.exceptionally(error -> {
                count(failureKind(error));
                return null;
            }).whenComplete((ok, error) -> {
                slots.release();
                progress.step();
            });
        }
    }

    /** The workers' protocol.max.* settings, so a line the workers would take is not refused here first. */
    static ProtocolLimits limits(Map<String, String> settings) {
        ProtocolLimits defaults = ProtocolLimits.DEFAULTS;
        return new ProtocolLimits((int) setting(settings, ProtocolLimits.MAX_RECORD_BYTES, defaults.maxRecordBytes()),
                (int) setting(settings, ProtocolLimits.MAX_INPUTS, defaults.maxInputs()),
                (int) setting(settings, ProtocolLimits.MAX_TEXT_CHARS, defaults.maxTextChars()),
                setting(settings, ProtocolLimits.MAX_TENSOR_ELEMENTS, defaults.maxTensorElements()),
                defaults.maxNestingDepth());
    }

    private static long setting(Map<String, String> settings, String key, long fallback) {
        String value = settings.get(key);
        return value == null || value.isBlank() ? fallback : Long.parseLong(value.trim());
    }

    /** Strict UTF-8 either way: a bad byte is a read error (stdin's usual decoder would send U+FFFD instead). */
    private Utf8Lines reader() throws IOException {
        return new Utf8Lines("-".equals(input) ? stdin : Files.newInputStream(Path.of(input)));
    }

    /**
     * Lines with something besides spaces and tabs, counted in bytes: no decoding, so a bad byte is left for the
     * reader to report where it is, after the lines before it were sent.
     */
    static long countLines(Path file) throws IOException {
        long count = 0;
        boolean content = false;
        byte[] buffer = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                for (int i = 0; i < n; i++) {
                    byte b = buffer[i];
                    if (b == '\n') {
                        count += content ? 1 : 0;
                        content = false;
                    } else if (b != ' ' && b != '\t' && b != '\r') {
                        content = true;
                    }
                }
            }
        }
        return count + (content ? 1 : 0);
    }

    private Writer writer() throws IOException {
        return "-".equals(output) ? new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))
                : Files.newBufferedWriter(Path.of(output));
    }

    private static void write(Writer out, byte[] json) {
        synchronized (out) {
            try {
                out.write(new String(json, StandardCharsets.UTF_8));
                out.write('\n');
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    /** A wire-format request, or {"text": ...} / {"texts": [...]} with optional id and model. */
    InferenceRequest parse(String line, long lineNumber) throws ProtocolException {
        JsonNode node = codec.parse(line.getBytes(StandardCharsets.UTF_8));
        if (node.has("inputs")) {
            if (!node.has("model")) {
                ((com.fasterxml.jackson.databind.node.ObjectNode) node).put("model", model);
            }
            if (!node.has("id")) {
                ((com.fasterxml.jackson.databind.node.ObjectNode) node).put("id", "line-" + lineNumber);
            }
            return codec.decodeRequest(node.toString().getBytes(StandardCharsets.UTF_8));
        }
        List<String> texts = new ArrayList<>();
        if (node.path("text").isTextual()) {
            texts.add(node.get("text").textValue());
        } else if (node.path("texts").isArray()) {
            node.get("texts").forEach(t -> texts.add(t.asText()));
        } else {
            throw new ProtocolException(io.kinfer.protocol.ErrorCode.INVALID_REQUEST,
                    "a line needs 'inputs', 'text' or 'texts'");
        }
        String id = node.path("id").isTextual() ? node.get("id").textValue() : "line-" + lineNumber;
        String lineModel = node.path("model").isTextual() ? node.get("model").textValue() : model;
        return codec.decodeRequest(codec.encodeRequest(InferenceRequest.ofTexts(id, lineModel, texts)));
    }

    /**
     * Waits until the next send is due and returns when the one after it is: at most --rate a second, and after a
     * stall (a slow Kafka, a full window) the rate holds from then on instead of a burst that catches up.
     */
    private long pace(long due) {
        if (rate == null || rate <= 0) {
            return due;
        }
        long wait = due - System.nanoTime();
        if (wait > 0) {
            LockSupport.parkNanos(wait);
        }
        return Math.max(due, System.nanoTime()) + (long) (1e9 / rate);
    }

    private void count(String outcome) {
        outcomes.computeIfAbsent(outcome, o -> new LongAdder()).increment();
    }

    private static String failureKind(Throwable error) {
        Throwable cause = error.getCause() != null ? error.getCause() : error;
        if (cause instanceof InferenceException.DeadlineExceeded) {
            return "timeout";
        }
        if (cause instanceof InferenceException.KafkaUnavailable) {
            return "kafka_unavailable";
        }
        if (cause instanceof InferenceException.Overloaded) {
            return "overloaded";
        }
        if (cause instanceof InferenceException.ClientClosed) {
            return "closed";
        }
        return "failed";
    }

    private void printSummary(long lines, double seconds) {
        Map<String, Long> sorted = new TreeMap<>();
        outcomes.forEach((k, v) -> sorted.put(k, v.sum()));
        err.printf("%d lines in %.1f s (%.1f/s): %s%n", lines, seconds, lines / Math.max(seconds, 1e-9),
                sorted.isEmpty() ? "nothing" : sorted.toString().replaceAll("[{}]", ""));
    }
}
