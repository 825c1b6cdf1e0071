package io.kinfer.client.cli;

import static org.apache.kafka.common.config.ConfigDef.Importance.LOW;
import static org.apache.kafka.common.config.ConfigDef.Range.atLeast;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
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
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.kinfer.client.ClientConfig;
import io.kinfer.client.InferenceClient;
import io.kinfer.client.InferenceException;
import io.kinfer.config.ConfigOptions;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.protocol.ErrorCode;
import io.kinfer.protocol.InferenceReply;
import io.kinfer.protocol.InferenceRequest;
import io.kinfer.protocol.JsonCodec;
import io.kinfer.protocol.ProtocolLimits;
import io.kinfer.protocol.ProtocolException;
import io.kinfer.protocol.Topics;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Type;
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

    @Option(names = {"-o", "--output"}, defaultValue = "-", description = "Where --wait writes replies, each as it "
            + "comes; - for stdout (default). Not the --input file.")
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

    @Option(names = "--rate", description = "At most this many requests per second, more than 0 (default: as fast "
            + "as Kafka takes them).")
    Double rate;

    @Option(names = "--timeout", defaultValue = "30000", description = "Per-request timeout in ms with --wait "
            + "(the request's deadline). Default: request.timeout.ms from --config or the environment, else "
            + "${DEFAULT-VALUE}.")
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

    /**
     * On a signal while the client is made, how long the hook waits for the making to end: interrupted, it closes
     * what it made, each closing step bounded (5 s) as close() is.
     */
    static final Duration ABORTED_START_WAIT = Duration.ofSeconds(30);

    /**
     * The workers' protocol.max.* settings, defined as the workers define them: a bad value is refused here as
     * there, naming its key, rather than failing a parse of its own.
     */
    static final ConfigDef LIMITS = new ConfigDef()
            .define(ProtocolLimits.MAX_RECORD_BYTES, Type.INT, ProtocolLimits.DEFAULTS.maxRecordBytes(), atLeast(1024),
                    LOW, "Largest request record accepted.")
            .define(ProtocolLimits.MAX_INPUTS, Type.INT, ProtocolLimits.DEFAULTS.maxInputs(), atLeast(1), LOW,
                    "Most texts (or tensor rows) in one request.")
            .define(ProtocolLimits.MAX_TEXT_CHARS, Type.INT, ProtocolLimits.DEFAULTS.maxTextChars(), atLeast(1), LOW,
                    "Longest text in characters.")
            .define(ProtocolLimits.MAX_TENSOR_ELEMENTS, Type.LONG, ProtocolLimits.DEFAULTS.maxTensorElements(),
                    atLeast(1), LOW, "Most elements in one input tensor.");

    /** Where "-" reads from and writes the replies to, and where progress and the summary go: the process's own. */
    InputStream stdin = System.in;
    /** Not System.out: a PrintStream swallows write errors, and a closed pipe would lose every reply unnoticed. */
    OutputStream stdout = new FileOutputStream(FileDescriptor.out);
    PrintStream err = System.err;

    /** Checks each line as a worker would; built from the settings (protocol.max.*) in {@link #call}. */
    private JsonCodec codec = new JsonCodec();
    private final Map<String, LongAdder> outcomes = new ConcurrentHashMap<>();
    /** The kinds of failed calls said so far: the first of each kind is printed with its reason. */
    private final Set<String> failuresSaid = ConcurrentHashMap.newKeySet();
    /** Non-blank lines read so far (on the reading thread). */
    private volatile long lines;
    /**
     * Set by {@link #stop} (under this, so that no client is made after it), or when the output fails: no further
     * line is read or sent.
     */
    private volatile boolean stopping;
    /**
     * The run is ended once, by whichever of the end of input and the shutdown hook comes first; the other waits on
     * {@link #end}'s lock until it is done. Guarded by this.
     */
    private boolean ended;
    /** The thread making the client, while it does: a signal then interrupts it. Guarded by this. */
    private Thread connecting;
    /** Counted down once making the client ended, whether it was made or not. */
    private final CountDownLatch connectEnded = new CountDownLatch(1);
    /** Set (under this) once the client is made; a stop before it has nothing to wait for. */
    private volatile Run run;

    /** What one run holds, for its end: the normal one or the shutdown hook's. */
    private record Run(InferenceClient client, Semaphore slots, int window, ThreadPoolExecutor writing,
                       Replies replies, ProgressBar progress, long started) {
    }

    @Override
    public Integer call() throws Exception {
        if (replyTopic != null && !Topics.isValidReplyTopic(replyTopic)) {
            // The workers could only dead-letter every line: refused before anything is sent.
            throw new ParameterException(spec.commandLine(), "--reply-topic '" + replyTopic
                    + "' is not a valid Kafka topic name, or is a request topic (" + Topics.REQUEST_PREFIX + "*)");
        }
        if (rate != null && !(rate > 0)) {
            // A negative (or NaN) rate read as "as fast as Kafka takes them": the opposite of a limit.
            throw new ParameterException(spec.commandLine(), "--rate must be a positive number of requests per "
                    + "second, not " + rate + " (leave it out for no limit)");
        }
        if (maxInFlight < 1) {
            // Read as 1 before, silently.
            throw new ParameterException(spec.commandLine(), "--max-in-flight must be at least 1, not " + maxInFlight);
        }
        if (waitForReplies && !"-".equals(input) && !"-".equals(output) && Files.exists(Path.of(input))
                && Files.exists(Path.of(output)) && Files.isSameFile(Path.of(input), Path.of(output))) {
            // Opening the output truncates it: the requests would be gone before a line was read.
            throw new ParameterException(spec.commandLine(), "--output " + output + " is the --input file: the "
                    + "replies would overwrite the requests before they are read");
        }
        // --timeout, when given, sits between the environment and --set, as every command's named flags do.
        Map<String, String> flags = new LinkedHashMap<>();
        Map<String, String> flagSources = new LinkedHashMap<>();
        if (spec.commandLine().getParseResult().hasMatchedOption("--timeout")) {
            ConfigOptions.putFlag(flags, flagSources, ClientConfig.REQUEST_TIMEOUT_MS, "--timeout", timeoutMs);
        }
        Map<String, String> settings = configOptions.load(flags, flagSources);
        ProtocolLimits limits = limits(settings);
        codec = new JsonCodec(limits);
        Map<String, Object> clientSettings = new LinkedHashMap<>(settings);
        clientSettings.putIfAbsent(ClientConfig.REQUEST_TIMEOUT_MS, Long.toString(timeoutMs));
        // Parsed as the client defines them, so that a bad value is refused naming its key (and where it came
        // from), not as a bare NumberFormatException.
        Map<String, Object> parsed = ClientConfig.DEFINITION.parse(clientSettings);
        Duration callTimeout = Duration.ofMillis((Long) parsed.get(ClientConfig.REQUEST_TIMEOUT_MS));
        int window = maxInFlight;
        // The client's own bound must not fail the window's calls as overloaded (a shared config's small
        // max.in.flight.requests did). The window is enough: a call's slot in the client is free before its future
        // completes, so before this command's slot comes back.
        long configured = settings.containsKey(ClientConfig.MAX_IN_FLIGHT)
                ? (Integer) parsed.get(ClientConfig.MAX_IN_FLIGHT) : 0;
        clientSettings.put(ClientConfig.MAX_IN_FLIGHT, Long.toString(Math.min(Integer.MAX_VALUE,
                Math.max(configured, window))));
        ClientConfig clientConfig = new ClientConfig(clientSettings);
        // Lines are read, sent and forgotten one by one (stdin streams; a file of any size fits): a regular file
        // is counted first only for the progress bar's total (a pipe or FIFO would be used up by counting).
        long total = "-".equals(input) || !Files.isRegularFile(Path.of(input)) ? -1 : countLines(Path.of(input));
        ProgressBar progress = new ProgressBar(err, total, !quiet);
        Semaphore slots = new Semaphore(window);
        long started = System.nanoTime();
        // Replies are written on a thread of their own: a slow reader of stdout must not stall the client's reply
        // thread, which would delay every other reply (and time calls out). Its queue says when to flush.
        ThreadPoolExecutor writing = new ThreadPoolExecutor(1, 1, 0, TimeUnit.MILLISECONDS,
                new LinkedBlockingQueue<>(), task -> {
                    Thread thread = new Thread(task, "kinfer-produce-writer");
                    thread.setDaemon(true);
                    return thread;
                });
        Thread hook = new Thread(() -> stop(SHUTDOWN_GRACE), "kinfer-produce-shutdown");
        boolean outputFailed;
        // Input and output are opened before the client is made: opening a FIFO blocks until its writer comes,
        // and a signal then finds no reply topic to leave behind. The input first: opening the output may truncate.
        try (Utf8Lines reader = reader(limits.maxRecordBytes());
             Replies replies = new Replies(waitForReplies ? writer() : Writer.nullWriter(), !"-".equals(output))) {
            // SIGINT or SIGTERM: the JVM exits once the hook returns, so the hook ends the run itself. Added before
            // the client is made, so that a signal meanwhile still closes it (a --wait client's reply topic).
            Runtime.getRuntime().addShutdownHook(hook);
            // Without --wait nothing reads replies: no reply topic (nor the right to create one), no reply consumer.
            Run current = start(clientConfig, client -> new Run(client, slots, window, writing, replies, progress,
                    started));
            if (current == null) {
                return 1; // stopped by a signal before the client was made: nothing was sent
            }
            try (InferenceClient client = current.client()) {
                try {
                    sendAll(reader, client, replies, writing, slots, progress, started, callTimeout);
                } catch (IOException | java.io.UncheckedIOException e) {
                    // Say so and finish what was sent: the summary counts it, and the exit code is 1.
                    count("read_error");
                    err.printf("%ninput stopped: %s (%d request line(s) read before it)%n", e.getMessage(), lines);
                }
                // Every slot back: every call has ended (or a signal's end closed the client, which failed them).
                slots.acquire(window);
                slots.release(window);
                end(current, Duration.ZERO);
            }
            outputFailed = replies.failed();
        } finally {
            writing.shutdown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException | IllegalArgumentException e) {
                // shutting down already (the hook runs), or never added (the input or output could not be opened)
            }
        }
        return !outputFailed && outcomes.keySet().stream().allMatch(k -> k.equals("success") || k.equals("published"))
                ? 0 : 1;
    }

    /**
     * Makes the client and the run, unless a signal came first (null then). A signal while the client is made
     * interrupts the making: create() then closes what it made, deleting a reply topic it created (see
     * {@link #stop}).
     */
    private Run start(ClientConfig config, java.util.function.Function<InferenceClient, Run> runOf) {
        synchronized (this) {
            if (stopping) {
                return null;
            }
            connecting = Thread.currentThread();
        }
        InferenceClient client = null;
        Run made = null;
        try {
            client = connect(config);
        } catch (RuntimeException e) {
            if (!stopping) {
                throw e;
            }
            // the signal's interrupt: nothing was sent, and what create() made is closed
        } finally {
            synchronized (this) {
                connecting = null;
                if (client != null) {
                    made = runOf.apply(client);
                    run = made;
                }
            }
            connectEnded.countDown();
        }
        if (stopping) {
            Thread.interrupted(); // the signal's, had it come as the client was made: the hook ends the run
        }
        return made;
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
     * {@code grace}; returns once the run has ended, whichever of the two ended it. While the client is being made,
     * it interrupts that and waits for what was made to be closed.
     */
    void stop(Duration grace) {
        Thread making;
        synchronized (this) {
            stopping = true;
            making = connecting;
            if (making != null) {
                making.interrupt();
            }
        }
        if (making != null) {
            try {
                connectEnded.await(ABORTED_START_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        Run current = run;
        if (current == null) {
            if (making != null) {
                err.printf("%nstopped while connecting to Kafka: nothing was sent%n");
            }
            return; // the client was not made: nothing was sent
        }
        end(current, grace);
    }

    /**
     * Ends the run, once, whichever comes first: the end of input (every call has ended) or a signal. Calls still in
     * flight get up to {@code grace}; those still open then fail as the client closes (counted as
     * {@code client_closed}).
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
        current.replies().flush();
        current.progress().finish();
        printSummary(lines, (System.nanoTime() - current.started()) / 1e9);
        current.client().close(); // idempotent: a no-op when the grace ran out above
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Reads, parses, paces and sends line by line; each call gives its slot back when it ends. */
    private void sendAll(Utf8Lines reader, InferenceClient client, Replies replies, ThreadPoolExecutor writing,
                         Semaphore slots, ProgressBar progress, long started, Duration callTimeout)
            throws IOException, InterruptedException {
        long nextDue = started;
        while (!stopping) {
            String line;
            try {
                line = reader.readLine();
            } catch (Utf8Lines.TooLong e) {
                // Not collected, so not a request a worker would take: skipped as any line they would refuse.
                lines++;
                count("invalid_line");
                err.printf("%nline %d skipped: %s%n", e.line(), e.getMessage());
                progress.step();
                continue;
            }
            if (line == null) {
                break;
            }
            if (line.isBlank()) {
                continue;
            }
            lines++;
            // Physical line numbers, blank lines counted, as in every message about the input (and an editor's).
            long number = reader.lineNumber();
            InferenceRequest request;
            try {
                request = parse(line, number);
            } catch (ProtocolException e) {
                count("invalid_line");
                err.printf("%nline %d skipped: %s%n", number, e.getMessage());
                if (waitForReplies) {
                    replies.writeFailure(number, null, "invalid_line", e.getMessage());
                }
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
                    // Flushed when no other reply waits: a reader downstream gets each as it comes, a burst in one go.
                    ? client.request(request, callTimeout).thenAcceptAsync(
                            reply -> replies.write(reply, !writing.getQueue().isEmpty()), writing)
                    : client.submit(request, replyTopic == null ? Topics.DEFAULT_REPLY_TOPIC : replyTopic, 0,
                            Map.of()).thenRun(() -> count("published"));
            // A failed call's slot comes back once its output line is written: the run's end waits for the slots.
            done.exceptionallyCompose(error -> callFailed(number, error, waitForReplies ? replies : null, writing,
                    request)).whenComplete((ok, error) -> {
                slots.release();
                progress.step();
            });
        }
    }

    /**
     * Counts a call that failed by the kind of its failure; the first of each kind is said with its reason. With
     * --wait ({@code replies} not null) the output gets a line for it too: the future completes once it is written.
     */
    private CompletableFuture<Void> callFailed(long number, Throwable error, Replies replies,
                                               ThreadPoolExecutor writing, InferenceRequest request) {
        Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
        String kind = failureKind(cause);
        String message = cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage();
        count(kind);
        CompletableFuture<Void> written = CompletableFuture.completedFuture(null);
        if (replies != null) {
            // On the writing thread, as replies are: this runs on the client's threads (its timer, Kafka's I/O
            // thread), which a slow reader of the output must not hold. Inline once the writer has stopped (the
            // failures close() makes as the run ends), so that none is lost.
            Runnable write = () -> replies.writeFailure(number, request, kind, message);
            try {
                written = CompletableFuture.runAsync(write, writing);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                write.run();
            }
        }
        if (failuresSaid.add(kind)) {
            err.printf("%nline %d: %s: %s (the summary counts any further ones)%n", number, kind, message);
        }
        return written;
    }

    /**
     * The workers' protocol.max.* settings, so a line the workers would take is not refused here first; a bad value
     * throws Kafka's ConfigException naming the key, as the workers' own settings do.
     */
    static ProtocolLimits limits(Map<String, String> settings) {
        Map<String, Object> parsed = LIMITS.parse(settings);
        return new ProtocolLimits((Integer) parsed.get(ProtocolLimits.MAX_RECORD_BYTES),
                (Integer) parsed.get(ProtocolLimits.MAX_INPUTS), (Integer) parsed.get(ProtocolLimits.MAX_TEXT_CHARS),
                (Long) parsed.get(ProtocolLimits.MAX_TENSOR_ELEMENTS), ProtocolLimits.DEFAULTS.maxNestingDepth());
    }

    /**
     * Strict UTF-8 either way: a bad byte is a read error (stdin's usual decoder would send U+FFFD instead). A line
     * over the largest record is skipped unread: no worker would take it.
     */
    private Utf8Lines reader(int maxLineBytes) throws IOException {
        return new Utf8Lines("-".equals(input) ? stdin : Files.newInputStream(Path.of(input)), maxLineBytes);
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
        return "-".equals(output) ? new BufferedWriter(new OutputStreamWriter(stdout, StandardCharsets.UTF_8))
                : Files.newBufferedWriter(Path.of(output));
    }

    /**
     * Where --wait writes the replies, as JSON lines, on the writing thread. A reply counts by its outcome once it
     * is flushed; the replies an output failure (a closed pipe, a full disk) loses count as {@code not_written},
     * and the run stops there: no further line is sent for replies nobody can read.
     */
    private final class Replies implements Closeable {
        private final Writer out;
        /** Whether close() closes the output: stdout is the process's, only flushed. */
        private final boolean closes;
        /** The outcomes of the replies written since the last flush. Guarded by this. */
        private final List<String> unflushed = new ArrayList<>();
        /** The first write or flush that failed. Guarded by this. */
        private IOException failure;

        Replies(Writer out, boolean closes) {
            this.out = out;
            this.closes = closes;
        }

        /** Writes a reply, and flushes unless {@code more} are waiting to be written. */
        synchronized void write(InferenceReply reply, boolean more) {
            if (failure != null) {
                count("not_written");
                return;
            }
            unflushed.add(reply.error() == null ? "success" : "error_" + reply.error().code().wireName());
            try {
                out.write(new String(codec.encodeReply(reply), StandardCharsets.UTF_8));
                out.write('\n');
                if (!more) {
                    flushWritten();
                }
            } catch (IOException e) {
                fail(e);
            }
        }

        synchronized void flush() {
            if (failure == null) {
                try {
                    flushWritten();
                } catch (IOException e) {
                    fail(e);
                }
            }
        }

        /**
         * A line for a call that got no reply (it failed in the client: a timeout, Kafka unreachable, the client
         * closing) or a line that was never sent (invalid): shaped as a worker's error reply, with the client's
         * outcome as its code and the input's line number, so that the output has a line for every input line.
         * Not counted here: the failure was, by its kind.
         */
        synchronized void writeFailure(long line, InferenceRequest request, String kind, String message) {
            if (failure != null) {
                return;
            }
            ObjectNode node = JsonNodeFactory.instance.objectNode();
            if (request != null) {
                node.put("id", request.id()).put("model", request.model());
            }
            node.put("line", line);
            node.putObject("error").put("code", kind).put("message", message);
            try {
                out.write(node.toString());
                out.write('\n');
                flushWritten();
            } catch (IOException e) {
                fail(e);
            }
        }

        synchronized boolean failed() {
            return failure != null;
        }

        private void flushWritten() throws IOException {
            out.flush();
            unflushed.forEach(ProduceCommand.this::count);
            unflushed.clear();
        }

        private void fail(IOException e) {
            failure = e;
            stopping = true; // not under the command's lock: end() holds it while it flushes
            unflushed.forEach(outcome -> count("not_written"));
            unflushed.clear();
            err.printf("%noutput stopped: %s (no further line is sent; replies not written count as not_written)%n",
                    e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage());
        }

        /** Closes the output; after a failure, whatever its buffer still holds is lost already (and counted). */
        @Override
        public synchronized void close() throws IOException {
            try {
                if (closes) {
                    out.close();
                } else {
                    out.flush();
                }
            } catch (IOException e) {
                if (failure == null) {
                    throw e;
                }
            }
        }
    }

    /**
     * A wire-format request, or {"text": ...} / {"texts": [...]} in its place; id and model are optional. A short form
     * becomes the wire form's inputs and is decoded as one, so that both are checked alike: version is kept, and a
     * text that is no string is refused (before, 3, null and true were sent as the texts "3", "null" and "true").
     */
    InferenceRequest parse(String line, long lineNumber) throws ProtocolException {
        JsonNode node = codec.parse(line.getBytes(StandardCharsets.UTF_8));
        if (!(node instanceof ObjectNode request)
                || !(node.has("inputs") || node.has("text") || node.has("texts"))) {
            throw new ProtocolException(ErrorCode.INVALID_REQUEST, "a line needs 'inputs', 'text' or 'texts'");
        }
        if (!request.has("inputs")) {
            JsonNode text = request.remove("text");
            JsonNode texts = request.remove("texts");
            if (text != null && !text.isTextual()) {
                throw new ProtocolException(ErrorCode.INVALID_REQUEST, "'text' must be a string");
            }
            if (text == null && !texts.isArray()) {
                throw new ProtocolException(ErrorCode.INVALID_REQUEST, "'texts' must be an array of strings");
            }
            ArrayNode inputs = request.putArray("inputs");
            if (text != null) {
                inputs.add(text);
            } else {
                for (int i = 0; i < texts.size(); i++) {
                    if (!texts.get(i).isTextual()) {
                        throw new ProtocolException(ErrorCode.INVALID_REQUEST, "texts[" + i + "] must be a string");
                    }
                    inputs.add(texts.get(i));
                }
            }
        }
        if (!request.has("model")) {
            request.put("model", model);
        }
        if (!request.has("id")) {
            request.put("id", "line-" + lineNumber);
        }
        return codec.decodeRequest(request.toString().getBytes(StandardCharsets.UTF_8));
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

    /** The summary's name for why a call failed: the client's outcome for the failures it tells apart. */
    private static String failureKind(Throwable cause) {
        if (cause instanceof InferenceException known) {
            return known.outcome();
        }
        if (cause instanceof IllegalArgumentException || cause instanceof IllegalStateException
                || cause instanceof NullPointerException) {
            return "invalid"; // refused by the client before it was sent
        }
        return "failed";
    }

    /** Lines read so far (blank ones not counted). */
    long linesRead() {
        return lines;
    }

    private void printSummary(long lines, double seconds) {
        Map<String, Long> sorted = new TreeMap<>();
        outcomes.forEach((k, v) -> sorted.put(k, v.sum()));
        // A line read while a signal ended the run (its send still waiting for --rate or a slot), or a reply still
        // queued for writing when the grace ran out: every line read is in the summary, under some outcome.
        long unfinished = lines - sorted.values().stream().mapToLong(Long::longValue).sum();
        if (unfinished > 0) {
            sorted.merge("unfinished", unfinished, Long::sum);
        }
        err.printf("%d lines in %.1f s (%.1f/s): %s%n", lines, seconds, lines / Math.max(seconds, 1e-9),
                sorted.isEmpty() ? "nothing" : sorted.toString().replaceAll("[{}]", ""));
    }
}
