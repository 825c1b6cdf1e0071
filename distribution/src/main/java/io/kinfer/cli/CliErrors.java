package io.kinfer.cli;

import java.io.PrintWriter;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.kinfer.config.ConfigLoader;
import io.kinfer.config.ConfigOptions;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.Redaction;
import io.kinfer.jobs.JobsConfig;
import org.apache.kafka.common.config.ConfigException;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * What a command that failed prints: one line, {@code kinfer <command>: <what went wrong>}, and exit code 1. A bad
 * setting names where its value came from (the flag, the environment variable or the config file); a port in use
 * names the flag that moves it. The stack trace only with {@code KINFER_LOG_LEVEL=DEBUG} (or TRACE).
 */
final class CliErrors implements CommandLine.IExecutionExceptionHandler {

    static final String LOG_LEVEL_ENV = "KINFER_LOG_LEVEL";

    private static final Pattern INVALID_VALUE = Pattern.compile("for configuration (\\S+?)(?::\\s|$)");
    private static final Pattern MISSING = Pattern.compile("configuration \"([^\"]+)\"");

    /** The setting and option that move the port a command binds itself, for a bind that fails on a port in use. */
    private record PortSetting(String key, int defaultPort, String remedy) {

        LocalPorts.Port port(Function<String, Optional<String>> sourceOf,
                             Function<String, Optional<String>> settingOf) {
            int number;
            try {
                number = settingOf.apply(key).map(value -> Integer.parseInt(value.trim())).orElse(defaultPort);
            } catch (NumberFormatException e) {
                number = defaultPort; // not what failed to bind: its own error comes first
            }
            return new LocalPorts.Port(null, number, LocalPorts.inUse(number,
                    key + sourceOf.apply(key).map(source -> " from " + source).orElse(""), remedy));
        }
    }

    private static final Map<String, PortSetting> PORTS = Map.of(
            "worker", new PortSetting("metrics.port", 9400,
                    "choose another with --metrics-port PORT (0: any free port, -1: none)"),
            "gateway", new PortSetting("gateway.port", 8080, "choose another with --port PORT (0: any free port)"));

    private final Map<String, String> environment;

    CliErrors(Map<String, String> environment) {
        this.environment = environment;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine commandLine, CommandLine.ParseResult parseResult) {
        PrintWriter err = commandLine.getErr();
        err.println(commandLine.getCommandSpec().qualifiedName() + ": " + describe(ex, commandLine.getCommandSpec()));
        if (debug(environment)) {
            ex.printStackTrace(err);
        }
        err.flush();
        return 1;
    }

    static boolean debug(Map<String, String> environment) {
        String level = environment.getOrDefault(LOG_LEVEL_ENV, "").trim().toUpperCase(Locale.ROOT);
        return level.equals("DEBUG") || level.equals("TRACE") || level.equals("ALL");
    }

    /** The one line for a failure of this command. */
    static String describe(Throwable error, CommandSpec command) {
        return describe(error, command.name(), key -> sourceOf(command, key), key -> settingOf(command, key));
    }

    /**
     * The one line for {@code error}; {@code sourceOf} says where a setting's value came from, {@code settingOf}
     * its value (both may be empty).
     */
    static String describe(Throwable error, String command, Function<String, Optional<String>> sourceOf,
                           Function<String, Optional<String>> settingOf) {
        ConfigException config = find(error, ConfigException.class);
        if (config != null) {
            return describeConfig(config, sourceOf);
        }
        PortSetting port = PORTS.get(command);
        if (port != null) {
            Optional<String> inUse = LocalPorts.describeInUse(error, List.of(port.port(sourceOf, settingOf)));
            if (inUse.isPresent()) {
                return inUse.get();
            }
        }
        return message(error);
    }

    private static String describeConfig(ConfigException config, Function<String, Optional<String>> sourceOf) {
        String message = config.getMessage() == null ? "invalid setting" : config.getMessage();
        String key = null;
        Matcher invalid = INVALID_VALUE.matcher(message);
        if (invalid.find()) {
            key = invalid.group(1);
        } else {
            Matcher missing = MISSING.matcher(message);
            if (missing.find()) {
                key = missing.group(1);
            }
        }
        if (key == null) {
            return message;
        }
        if (Redaction.isSecret(key)) {
            message = message.replaceFirst("^Invalid value .* for configuration ",
                    Matcher.quoteReplacement("Invalid value [hidden] for configuration "));
        }
        Optional<String> source = sourceOf.apply(key);
        if (source.isPresent()) {
            return message + " (from " + source.get() + ")";
        }
        // A Kafka client's or Kafka Streams' own key: the kinfer setting that carried it, with its prefix.
        List<String> prefixes = new ArrayList<>(KafkaClientProperties.PREFIXES);
        prefixes.add(JobsConfig.STREAMS_PREFIX);
        for (String prefix : prefixes) {
            Optional<String> carried = sourceOf.apply(prefix + key);
            if (carried.isPresent()) {
                return message + " (" + prefix + key + ", from " + carried.get() + ")";
            }
        }
        return message;
    }

    /** The error's message, and its cause's where that adds something ("cannot start: Connection refused"). */
    static String message(Throwable error) {
        // Wrappers that only repeat their cause (ExecutionException, CompletionException) are skipped.
        Throwable shown = error;
        while (shown.getCause() != null && (shown.getMessage() == null
                || shown.getMessage().equals(shown.getCause().toString()))) {
            shown = shown.getCause();
        }
        String message = shown.getMessage() == null || shown.getMessage().isBlank()
                ? shown.getClass().getSimpleName() + " (" + LOG_LEVEL_ENV + "=DEBUG prints the stack trace)"
                : shown.getMessage();
        Throwable cause = shown.getCause();
        if (cause != null && cause.getMessage() != null && !message.contains(cause.getMessage())) {
            message += ": " + cause.getMessage();
        }
        // And the root cause, which says what was wrong where Kafka's wrappers only say what failed ("Failed to
        // create new KafkaAdminClient: ...: JAAS config entry not terminated by semi-colon").
        Throwable root = cause;
        Set<Throwable> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        while (root != null && root.getCause() != null && seen.add(root)) { // a cause cycle ends it too
            root = root.getCause();
        }
        if (root != null && root != cause && root.getMessage() != null && !message.contains(root.getMessage())) {
            message += ": " + root.getMessage();
        }
        return message;
    }

    private static <T extends Throwable> T find(Throwable error, Class<T> type) {
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
        }
        return null;
    }

    /** Where the command's setting came from: its ConfigOptions (also nested in other mixins). */
    static Optional<String> sourceOf(CommandSpec command, String key) {
        return loaded(command).flatMap(loaded -> loaded.sourceOf(key));
    }

    static Optional<String> settingOf(CommandSpec command, String key) {
        return loaded(command).map(loaded -> loaded.settings().get(key));
    }

    static Optional<ConfigLoader.Loaded> loaded(CommandSpec command) {
        return configOptions(command).flatMap(ConfigOptions::lastLoaded);
    }

    /** The command's {@link ConfigOptions} mixin, wherever it is among its mixins. */
    static Optional<ConfigOptions> configOptions(CommandSpec command) {
        Deque<CommandSpec> specs = new ArrayDeque<>(command.mixins().values());
        while (!specs.isEmpty()) {
            CommandSpec spec = specs.pop();
            if (spec.userObject() instanceof ConfigOptions options) {
                return Optional.of(options);
            }
            specs.addAll(spec.mixins().values());
        }
        return Optional.empty();
    }
}
