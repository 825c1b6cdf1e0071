package io.kinfer.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * {@code kinfer broker}: a real single-node Kafka broker (KRaft). The broker and its dependencies (Scala,
 * kafka-server) travel inside kinfer.jar as a nested jar and run in their own class loader, so they never share
 * a classpath with the worker or the gateway. Every option is the nested broker's; see {@code kinfer broker --help}.
 */
@Command(name = "broker", description = "Runs a real single-node Apache Kafka broker (KRaft) on 127.0.0.1 "
        + "(options: kinfer broker --help).")
public final class BrokerCommand implements Callable<Integer> {

    static final String NESTED = "kinfer/broker.jar";
    static final String MAIN = "io.kinfer.kafka.embedded.EmbeddedKafkaMain";

    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (args.contains("-V") || args.contains("--version")) {
            // The nested broker's picocli knows no kinfer version: answered here, as every other command does.
            System.out.println(new Kinfer.Version().getVersion()[0]);
            return 0;
        }
        List<LocalPorts.Port> ports = ports(args);
        LocalPorts.requireFree(ports);
        Path jar = brokerJar();
        try (URLClassLoader loader = new URLClassLoader(new URL[] {jar.toUri().toURL()},
                ClassLoader.getPlatformClassLoader())) {
            Thread.currentThread().setContextClassLoader(loader);
            // The nested broker's own picocli, named as the user typed it (its usage said "broker"), and failing with
            // one line as every kinfer command does.
            Class<?> cli = loader.loadClass("picocli.CommandLine");
            Class<?> handlerType = loader.loadClass("picocli.CommandLine$IExecutionExceptionHandler");
            Object commandLine = cli.getConstructor(Object.class)
                    .newInstance(loader.loadClass(MAIN).getConstructor().newInstance());
            cli.getMethod("setCommandName", String.class).invoke(commandLine, "kinfer broker");
            cli.getMethod("setExecutionExceptionHandler", handlerType).invoke(commandLine,
                    Proxy.newProxyInstance(loader, new Class<?>[] {handlerType},
                            (proxy, method, arguments) -> handleFailure(proxy, method, arguments, ports)));
            try {
                return (Integer) cli.getMethod("execute", String[].class).invoke(commandLine,
                        (Object) args.toArray(String[]::new));
            } catch (InvocationTargetException e) {
                throw e.getCause() instanceof Exception cause ? cause : e;
            }
        }
    }

    /**
     * The nested broker's execution-exception handler: one line, the stack trace only when debugging. A port taken
     * after the check (the broker names the address it failed to bind) gets the check's line.
     */
    private static Object handleFailure(Object proxy, Method method, Object[] arguments, List<LocalPorts.Port> ports) {
        if (!method.getName().equals("handleExecutionException")) {
            return switch (method.getName()) {
                case "hashCode" -> System.identityHashCode(proxy);
                case "equals" -> proxy == arguments[0];
                default -> "kinfer broker failure handler";
            };
        }
        Exception error = (Exception) arguments[0];
        System.err.println("kinfer broker: " + LocalPorts.describeInUse(error, ports)
                .orElseGet(() -> CliErrors.message(error)));
        if (CliErrors.debug(System.getenv())) {
            error.printStackTrace();
        }
        System.err.flush();
        return 1;
    }

    /**
     * The ports the broker binds, each with the line that says it is taken (another broker left running): checked
     * before the broker starts, so it fails in one line naming the flag, not in the broker's start-up with three
     * stack traces. None for --help and --version.
     */
    static List<LocalPorts.Port> ports(List<String> args) {
        if (args.contains("-h") || args.contains("--help") || args.contains("-V") || args.contains("--version")) {
            return List.of();
        }
        int port = intOption(args, "--port", 9092);
        int controllerPort = intOption(args, "--controller-port", 9093);
        // Out of range, Kafka's own start-up failed with its stack trace ("Cannot serialize negative port number").
        requireInRange("--port", port);
        requireInRange("--controller-port", controllerPort);
        return List.of(
                new LocalPorts.Port("127.0.0.1", port, "port " + port + " is already in use (another Kafka broker?); "
                        + "choose another with --port PORT, or use the broker that holds it"),
                new LocalPorts.Port("127.0.0.1", controllerPort, LocalPorts.inUse(controllerPort,
                        "the KRaft controller's", "choose another with --controller-port PORT")));
    }

    /** What {@link #intOption} returns for a value that is not a number: the broker's parser says so, not this. */
    private static final int UNPARSED = Integer.MIN_VALUE;

    private static void requireInRange(String option, int port) {
        if (port != UNPARSED && (port < 0 || port > 65_535)) {
            throw new IllegalStateException(option + " " + port + " is out of range: 1 to 65535, or 0 for any free "
                    + "port");
        }
    }

    /** The value of {@code --name V} or {@code --name=V} among the nested broker's arguments, else the default. */
    private static int intOption(List<String> args, String name, int defaultValue) {
        for (int i = 0; i < args.size(); i++) {
            String arg = args.get(i);
            String value = arg.equals(name) && i + 1 < args.size() ? args.get(i + 1)
                    : arg.startsWith(name + "=") ? arg.substring(name.length() + 1) : null;
            if (value != null) {
                try {
                    return Integer.parseInt(value.trim());
                } catch (NumberFormatException e) {
                    return UNPARSED; // the broker's own parser reports it
                }
            }
        }
        return defaultValue;
    }

    /**
     * Each rebuilt kinfer.jar extracts a 44 MB copy: beside the current one, only the two newest are kept (another
     * checkout on this machine may be using one). Files being extracted ({@code .tmp}) are never touched.
     */
    private static void removeOlderCopies(Path cache, Path current) {
        try (var files = Files.list(cache)) {
            files.filter(file -> !file.equals(current) && file.getFileName().toString().startsWith("broker-")
                            && file.getFileName().toString().endsWith(".jar"))
                    .sorted(Comparator.comparing(BrokerCommand::modified).reversed())
                    .skip(2)
                    .forEach(file -> {
                        try {
                            Files.deleteIfExists(file);
                        } catch (IOException e) {
                            // in use elsewhere, or not ours to delete: left
                        }
                    });
        } catch (IOException e) {
            // the cache only grows
        }
    }

    private static FileTime modified(Path file) {
        try {
            return Files.getLastModifiedTime(file);
        } catch (IOException e) {
            return FileTime.fromMillis(0);
        }
    }

    /**
     * The nested broker jar as a file: used in place when running from classes, else extracted once into
     * {@code $KINFER_HOME/lib} (default {@code ~/.kinfer/lib}), named by the outer jar's size and time so a rebuilt kinfer.jar extracts afresh.
     */
    static Path brokerJar() {
        URL resource = BrokerCommand.class.getClassLoader().getResource(NESTED);
        if (resource == null) {
            throw new IllegalStateException(NESTED + " is missing from the kinfer jar; rebuild with ./mvnw package");
        }
        try {
            if ("file".equals(resource.getProtocol())) {
                return Path.of(resource.toURI());
            }
            Path outer = Path.of(BrokerCommand.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            String home = System.getenv("KINFER_HOME");
            Path cache = (home != null ? Path.of(home) : Path.of(System.getProperty("user.home"), ".kinfer")).resolve("lib");
            Files.createDirectories(cache);
            Path target = cache.resolve("broker-" + Files.size(outer) + "-" + Files.getLastModifiedTime(outer).toMillis()
                    + ".jar");
            if (!Files.exists(target)) {
                Path tmp = Files.createTempFile(cache, "broker", ".tmp");
                try (InputStream in = resource.openStream()) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (IOException e) {
                    if (!Files.exists(target)) {
                        throw e;
                    }
                    Files.deleteIfExists(tmp); // another process extracted the same jar meanwhile
                }
                removeOlderCopies(cache, target);
            }
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot extract the broker jar", e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
