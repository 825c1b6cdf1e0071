package io.kinfer.cli;

import java.util.Map;
import java.util.Optional;

import io.kinfer.client.cli.ProduceCommand;
import io.kinfer.config.ConfigLoader;
import io.kinfer.gateway.GatewayCommand;
import io.kinfer.perf.PerfCommand;
import io.kinfer.worker.WorkerCommand;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine;

/** The {@code kinfer} command: every part of the pipeline from one jar. */
@Command(name = "kinfer", mixinStandardHelpOptions = true, versionProvider = Kinfer.Version.class,
        description = "Kafka-based asynchronous inference: an HTTP gateway, dynamic-batching ONNX Runtime workers, "
                + "and the tools around them.",
        subcommands = {UpCommand.class, BrokerCommand.class, WorkerCommand.class, GatewayCommand.class,
                ProduceCommand.class, PerfCommand.class, ModelsCommand.class, ConfigCommand.class,
                CommandLine.HelpCommand.class})
public final class Kinfer implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        exitWithParent();
        System.exit(commandLine().execute(args));
    }

    /**
     * A child of {@code kinfer up} stops (running its shutdown hooks) when its parent is gone, and ignores Ctrl-C:
     * where no {@code setsid} gives it a session of its own (macOS), the terminal's SIGINT reaches every process of
     * the group at once, and the broker would stop while the workers still commit. The parent stops the children
     * in order with SIGTERM.
     */
    @SuppressWarnings("removal")
    private static void exitWithParent() {
        String parent = System.getenv(UpCommand.PARENT_PID_ENV);
        if (parent == null) {
            return;
        }
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), sun.misc.SignalHandler.SIG_IGN);
        } catch (IllegalArgumentException e) {
            // no SIGINT on this platform
        }
        try {
            ProcessHandle.of(Long.parseLong(parent)).ifPresentOrElse(
                    handle -> handle.onExit().thenRun(() -> System.exit(0)), () -> System.exit(0));
        } catch (NumberFormatException e) {
            // not started by kinfer up
        }
    }

    static CommandLine commandLine() {
        return commandLine(System.getenv());
    }

    /**
     * The CLI: a failed command prints one line and exits 1 ({@link CliErrors}); before a command that reads
     * settings runs, a key no kinfer part defines is warned about (a typo would otherwise be silently ignored).
     */
    static CommandLine commandLine(Map<String, String> environment) {
        CommandLine cli = new CommandLine(new Kinfer()).setCaseInsensitiveEnumValuesAllowed(true);
        // Every subcommand takes -V (the standard help options): without this it printed nothing and exited 0.
        versionEverywhere(cli);
        cli.setExecutionExceptionHandler(new CliErrors(environment));
        cli.setExecutionStrategy(parseResult -> {
            warnAboutUnknownSettings(parseResult, environment);
            return new CommandLine.RunLast().execute(parseResult);
        });
        return cli;
    }

    private static void versionEverywhere(CommandLine command) {
        for (CommandLine sub : command.getSubcommands().values()) {
            if (sub.getCommandSpec().version().length == 0) {
                sub.getCommandSpec().versionProvider(new Version());
            }
            versionEverywhere(sub);
        }
    }

    /**
     * Warns once about the settings no kinfer part defines, for the commands that take {@code --config}/{@code
     * --set}, {@code up} among them (its children, which get the same settings, do not repeat it).
     */
    private static void warnAboutUnknownSettings(CommandLine.ParseResult parseResult, Map<String, String> environment) {
        CommandLine.ParseResult last = parseResult;
        while (true) {
            if (last.isUsageHelpRequested() || last.isVersionHelpRequested()) {
                return;
            }
            if (!last.hasSubcommand()) {
                break;
            }
            last = last.subcommand();
        }
        if (environment.containsKey(UpCommand.PARENT_PID_ENV)) {
            return;
        }
        Optional<ConfigLoader.Loaded> loaded;
        try {
            loaded = CliErrors.configOptions(last.commandSpec())
                    .map(options -> options.loadTracked(Map.of(), environment));
        } catch (RuntimeException e) {
            return; // an unreadable file: the command itself reports it
        }
        loaded.flatMap(KnownSettings::warning).ifPresent(warning -> LoggerFactory.getLogger(Kinfer.class).warn(warning));
        loaded.flatMap(KnownSettings::passThroughWarning)
                .ifPresent(warning -> LoggerFactory.getLogger(Kinfer.class).warn(warning));
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** The version from the jar's manifest. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = Kinfer.class.getPackage().getImplementationVersion();
            return new String[] {"kinfer " + (version == null ? "(development build)" : version)};
        }
    }
}
