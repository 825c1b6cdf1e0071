package io.kinfer.kafka.embedded;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs a single-node broker as its own process until it is stopped (SIGTERM or Ctrl-C). Prints one line
 * {@code KAFKA_READY <bootstrap>} on standard output once clients can connect, for a parent process to wait on.
 */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = "Runs a real single-node Apache Kafka broker (KRaft) on 127.0.0.1, for local use and tests.")
public final class EmbeddedKafkaMain implements Callable<Integer> {

    /** The line printed once the broker serves; the rest of the line is the bootstrap address. */
    public static final String READY_MARKER = "KAFKA_READY ";

    @Option(names = "--port", defaultValue = "9092", description = "Client port (0 = any free port). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--controller-port", defaultValue = "9093",
            description = "KRaft controller port (0 = any free port). Default: ${DEFAULT-VALUE}.")
    int controllerPort;

    @Option(names = "--data-dir", defaultValue = ".kinfer/kafka",
            description = "Where the broker keeps its data; reused by the next start. Default: ${DEFAULT-VALUE}.")
    Path dataDir;

    @Option(names = "--fresh", description = "Delete the data directory first.")
    boolean fresh;

    @Option(names = {"-p", "--broker-property"}, paramLabel = "KEY=VALUE",
            description = "Any broker setting, for example -p num.partitions=12 (repeatable).")
    Map<String, String> brokerProperties = new LinkedHashMap<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new EmbeddedKafkaMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        // A second broker on a running one's data dir: its --fresh must not delete that data, and without it Kafka
        // fails on the lock with a page of stack traces instead of this one line.
        EmbeddedKafka.requireUnused(dataDir);
        if (fresh) {
            EmbeddedKafka.deleteRecursively(dataDir);
        }
        EmbeddedKafka kafka = EmbeddedKafka.builder()
                .port(port)
                .controllerPort(controllerPort)
                .dataDir(dataDir)
                .brokerProperties(brokerProperties)
                .start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            kafka.close();
            stopped.countDown();
        }, "kinfer-broker-shutdown"));
        System.out.println(READY_MARKER + kafka.bootstrapServers());
        System.out.flush();
        stopped.await();
        return 0;
    }
}
