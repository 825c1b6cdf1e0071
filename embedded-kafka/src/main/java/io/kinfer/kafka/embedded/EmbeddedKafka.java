package io.kinfer.kafka.embedded;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.network.ListenerName;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Apache Kafka cluster in KRaft mode, running in this JVM.
 *
 * <p>With one broker (the default) a single node plays both roles, which starts in one to two seconds. With
 * {@code brokers(n)} for n &gt; 1 the cluster is one dedicated controller plus n brokers, for replication tests.
 * Every listener binds 127.0.0.1 only. The data directory is deleted on {@link #close()} unless the caller gave
 * one with {@link Builder#dataDir(Path)}, in which case it is kept, and a later start reuses it.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EmbeddedKafka.class);
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    private static final int CONTROLLER_NODE_ID = 1000;

    private final Builder settings;
    private final Path dataDir;
    private final boolean deleteDataDirOnClose;
    private final String clusterId;
    private final int controllerPort;
    private final List<Node> nodes = new ArrayList<>();
    private final Node controller;
    private final List<Node> brokers = new ArrayList<>();
    private volatile boolean closed;

    private EmbeddedKafka(Builder settings) {
        this.settings = settings;
        try {
            if (settings.dataDir != null) {
                this.dataDir = Files.createDirectories(settings.dataDir);
                this.deleteDataDirOnClose = false;
            } else {
                this.dataDir = Files.createTempDirectory("kinfer-kafka-");
                this.deleteDataDirOnClose = true;
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the Kafka data directory", e);
        }
        this.clusterId = existingClusterId(dataDir).orElseGet(() -> Uuid.randomUuid().toString());
        this.controllerPort = settings.controllerPort > 0 ? settings.controllerPort : Ports.free();
        if (settings.brokers == 1) {
            Node combined = new Node(1, true, true, settings.port, dataDir.resolve("node-1"));
            nodes.add(combined);
            brokers.add(combined);
            controller = combined;
        } else {
            controller = new Node(CONTROLLER_NODE_ID, false, true, 0, dataDir.resolve("controller"));
            nodes.add(controller);
            for (int i = 1; i <= settings.brokers; i++) {
                Node broker = new Node(i, true, false, 0, dataDir.resolve("broker-" + i));
                nodes.add(broker);
                brokers.add(broker);
            }
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Starts a single-node cluster with the defaults. */
    public static EmbeddedKafka startDefault() {
        return builder().build().start();
    }

    /** Formats storage where needed, starts the controller then the brokers, and waits until all brokers serve. */
    public EmbeddedKafka start() {
        long began = System.nanoTime();
        try {
            // The controller must be up first; brokers register with it.
            controller.start();
            for (Node broker : brokers) {
                if (broker != controller) {
                    broker.start();
                }
            }
            awaitBrokers(brokers.size(), Duration.ofSeconds(60));
        } catch (RuntimeException e) {
            // Nothing else would stop the nodes already running (a test extension never got the instance).
            try {
                close();
            } catch (RuntimeException stopping) {
                e.addSuppressed(stopping);
            }
            throw e;
        }
        log.info("Kafka ready at {} ({} broker(s), {} ms)", bootstrapServers(), brokers.size(),
                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - began));
        return this;
    }

    /** {@code 127.0.0.1:port[,127.0.0.1:port...]} of the brokers that are running. */
    public String bootstrapServers() {
        return brokers.stream()
                .filter(Node::running)
                .map(node -> "127.0.0.1:" + node.brokerPort)
                .collect(Collectors.joining(","));
    }

    /** Client properties that reach this cluster, including the SASL settings when SASL is enabled. */
    public Map<String, Object> clientProperties() {
        Map<String, Object> props = new HashMap<>();
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, allBootstrapServers());
        if (settings.saslUsers != null) {
            String user = settings.saslUsers.keySet().iterator().next();
            props.putAll(saslClientProperties(user, settings.saslUsers.get(user)));
        }
        return props;
    }

    /** Client properties for SASL/PLAIN as the given user (the password may be wrong, to test refusal). */
    public static Map<String, Object> saslClientProperties(String user, String password) {
        Map<String, Object> props = new HashMap<>();
        props.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
        props.put(SaslConfigs.SASL_MECHANISM, "PLAIN");
        props.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.plain.PlainLoginModule required "
                + "username=\"" + user + "\" password=\"" + password + "\";");
        return props;
    }

    /** All brokers' addresses, running or not: what a client should be configured with. */
    public String allBootstrapServers() {
        return brokers.stream().map(node -> "127.0.0.1:" + node.brokerPort).collect(Collectors.joining(","));
    }

    public int brokerCount() {
        return brokers.size();
    }

    public Path dataDir() {
        return dataDir;
    }

    /**
     * Stops broker {@code index} (0-based), keeping its data and port. On a single-node cluster this stops the
     * whole node, controller included.
     */
    public void stopBroker(int index) {
        brokers.get(index).stop();
    }

    /** Starts a stopped broker again on its data and port, and waits until it serves. */
    public void startBroker(int index) {
        Node node = brokers.get(index);
        node.start();
        awaitBrokers((int) brokers.stream().filter(Node::running).count(), Duration.ofSeconds(60));
    }

    /** Creates a topic with replication factor min(3, brokers); an existing topic is left as it is. */
    public void createTopic(String name, int partitions) {
        createTopic(name, partitions, (short) Math.min(3, brokers.size()), Map.of());
    }

    public void createTopic(String name, int partitions, short replicationFactor, Map<String, String> configs) {
        try (Admin admin = admin()) {
            admin.createTopics(List.of(new NewTopic(name, partitions, replicationFactor).configs(configs)))
                    .all().get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IllegalStateException("cannot create topic " + name, e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topic " + name, e);
        } catch (TimeoutException e) {
            throw new IllegalStateException("timed out creating topic " + name, e);
        }
    }

    /** A new Admin client for this cluster; the caller closes it. */
    public Admin admin() {
        Map<String, Object> props = new HashMap<>(clientProperties());
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
        return Admin.create(props);
    }

    /** Stops the brokers, then the controller (the reverse order hangs), and deletes temporary data. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        List<Node> order = new ArrayList<>(brokers);
        order.remove(controller);
        order.add(controller);
        for (Node node : order) {
            try {
                node.stop();
            } catch (RuntimeException e) {
                if (first == null) {
                    first = e;
                } else {
                    first.addSuppressed(e);
                }
            }
        }
        if (deleteDataDirOnClose) {
            deleteRecursively(dataDir);
        }
        if (first != null) {
            throw first;
        }
    }

    private void awaitBrokers(int expected, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        Exception last = null;
        Map<String, Object> props = new HashMap<>(clientProperties());
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 2_000);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 2_000);
        try (Admin admin = Admin.create(props)) {
            while (System.nanoTime() < deadline) {
                try {
                    int seen = admin.describeCluster().nodes().get(2, TimeUnit.SECONDS).size();
                    if (seen >= expected) {
                        return;
                    }
                } catch (ExecutionException | TimeoutException e) {
                    last = e;
                }
                TimeUnit.MILLISECONDS.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for Kafka", e);
        }
        throw new IllegalStateException("Kafka brokers not ready within " + timeout, last);
    }

    private Map<String, String> configFor(Node node) {
        Map<String, String> props = new LinkedHashMap<>();
        String clientListener = settings.saslUsers != null ? "SASL_PLAINTEXT" : "PLAINTEXT";
        List<String> roles = new ArrayList<>();
        List<String> listeners = new ArrayList<>();
        if (node.broker) {
            roles.add("broker");
            listeners.add(clientListener + "://127.0.0.1:" + node.brokerPort);
        }
        if (node.controller) {
            roles.add("controller");
            listeners.add(CONTROLLER_LISTENER + "://127.0.0.1:" + controllerPort);
        }
        props.put("process.roles", String.join(",", roles));
        props.put("node.id", Integer.toString(node.nodeId));
        props.put("controller.quorum.voters", controller.nodeId + "@127.0.0.1:" + controllerPort);
        props.put("controller.listener.names", CONTROLLER_LISTENER);
        props.put("listeners", String.join(",", listeners));
        props.put("listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        if (node.broker) {
            props.put("inter.broker.listener.name", clientListener);
        }
        props.put("log.dirs", node.dir.resolve("data").toString());
        props.put("metadata.log.dir", node.dir.resolve("metadata").toString());

        int replication = Math.min(3, brokers.size());
        props.put("offsets.topic.replication.factor", Integer.toString(replication));
        props.put("offsets.topic.num.partitions", "4");
        props.put("transaction.state.log.replication.factor", Integer.toString(replication));
        props.put("transaction.state.log.min.isr", Integer.toString(Math.min(2, replication)));
        props.put("transaction.state.log.num.partitions", "4");
        props.put("share.coordinator.state.topic.replication.factor", Integer.toString(replication));
        props.put("share.coordinator.state.topic.min.isr", Integer.toString(Math.min(2, replication)));
        props.put("share.coordinator.state.topic.num.partitions", "4");
        // Share groups notice a dead member after 45 s by default (and a group may not ask for less), while a
        // consumer group member is gone after its 10 s session: allow share groups the same (measured: with 45 s,
        // half the partitions went unserved for that long after a SIGKILL and calls timed out).
        props.put("group.share.min.session.timeout.ms", "6000");
        props.put("group.share.session.timeout.ms", "10000");
        props.put("group.share.min.heartbeat.interval.ms", "1000");
        props.put("group.share.heartbeat.interval.ms", "3000");
        props.put("group.initial.rebalance.delay.ms", "0");
        props.put("auto.create.topics.enable", "false");
        // Lowered from 128 MB: the cleaner buffer dominates an idle broker's heap.
        props.put("log.cleaner.dedupe.buffer.size", Integer.toString(2 * 1024 * 1024));
        props.put("num.network.threads", "2");
        props.put("num.io.threads", "4");
        props.put("num.recovery.threads.per.data.dir", "1");
        props.put("log.flush.interval.messages", Long.toString(Long.MAX_VALUE));
        props.put("controlled.shutdown.enable", "true");
        props.put("controller.quorum.election.timeout.ms", "1000");
        props.put("controller.quorum.fetch.timeout.ms", "2000");
        props.put("broker.heartbeat.interval.ms", "500");
        props.put("broker.session.timeout.ms", "6000");

        if (settings.saslUsers != null) {
            String admin = settings.saslUsers.keySet().iterator().next();
            String users = settings.saslUsers.entrySet().stream()
                    .map(e -> "user_" + e.getKey() + "=\"" + e.getValue() + "\"")
                    .collect(Collectors.joining(" "));
            props.put("sasl.enabled.mechanisms", "PLAIN");
            props.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
            props.put("listener.name.sasl_plaintext.plain.sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + admin
                            + "\" password=\"" + settings.saslUsers.get(admin) + "\" " + users + ";");
        }
        props.putAll(settings.brokerProperties);
        return props;
    }

    /** A restart on kept data must use the cluster id it was formatted with. */
    private static Optional<String> existingClusterId(Path dir) {
        try (Stream<Path> paths = Files.walk(dir, 3)) {
            for (Path meta : (Iterable<Path>) paths.filter(p -> p.endsWith("meta.properties"))::iterator) {
                Properties props = new Properties();
                try (Reader reader = Files.newBufferedReader(meta)) {
                    props.load(reader);
                }
                if (props.getProperty("cluster.id") != null) {
                    return Optional.of(props.getProperty("cluster.id"));
                }
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir, e);
        }
    }

    /**
     * Fails when a running broker holds a Kafka log directory under {@code dataDir}: Kafka locks each one with a
     * {@code .lock} file while it runs. Deleting it then (a {@code --fresh} start beside a running broker) would
     * pull the data from under that broker.
     */
    public static void requireUnused(Path dataDir) {
        if (!Files.isDirectory(dataDir)) {
            return;
        }
        List<Path> locks;
        try (Stream<Path> paths = Files.walk(dataDir, 4)) {
            locks = paths.filter(path -> path.getFileName().toString().equals(".lock")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dataDir, e);
        }
        for (Path lock : locks) {
            boolean held;
            try (FileChannel channel = FileChannel.open(lock, StandardOpenOption.WRITE)) {
                FileLock probe = channel.tryLock();
                held = probe == null;
                if (probe != null) {
                    probe.release();
                }
            } catch (OverlappingFileLockException e) {
                held = true; // held by this very process
            } catch (IOException e) {
                throw new UncheckedIOException("cannot check " + lock, e);
            }
            if (held) {
                throw new IllegalStateException("data dir " + dataDir + " is in use by a running broker ("
                        + lock.getParent() + " is locked); stop it first, or choose another data dir");
            }
        }
    }

    static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    log.warn("could not delete {}: {}", path, e.toString());
                }
            });
        } catch (IOException e) {
            log.warn("could not delete {}: {}", dir, e.toString());
        }
    }

    /** One Kafka server process-equivalent: a broker, a controller, or both. */
    private final class Node {
        final int nodeId;
        final boolean broker;
        final boolean controller;
        final Path dir;
        int brokerPort;
        KafkaRaftServer server;

        Node(int nodeId, boolean broker, boolean controller, int brokerPort, Path dir) {
            this.nodeId = nodeId;
            this.broker = broker;
            this.controller = controller;
            this.brokerPort = brokerPort;
            this.dir = dir;
        }

        boolean running() {
            return server != null;
        }

        synchronized void start() {
            if (server != null) {
                return;
            }
            Map<String, String> props = configFor(this);
            format(props);
            KafkaConfig config = new KafkaConfig(props, false);
            KafkaRaftServer started = new KafkaRaftServer(config, Time.SYSTEM);
            started.startup();
            server = started;
            if (broker && brokerPort == 0) {
                // Keep the bound port, so a restart binds the same address and clients reconnect.
                brokerPort = boundBrokerPort(started, settings.saslUsers != null ? "SASL_PLAINTEXT" : "PLAINTEXT");
            }
        }

        synchronized void stop() {
            if (server == null) {
                return;
            }
            KafkaRaftServer stopping = server;
            server = null;
            stopping.shutdown();
            stopping.awaitShutdown();
        }

        private void format(Map<String, String> props) {
            try {
                Files.createDirectories(dir);
                Formatter formatter = new Formatter()
                        .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                        .setNodeId(nodeId)
                        .setClusterId(clusterId)
                        .setDirectories(List.of(props.get("log.dirs"), props.get("metadata.log.dir")))
                        .setMetadataLogDirectory(props.get("metadata.log.dir"))
                        .setControllerListenerName(CONTROLLER_LISTENER)
                        .setReleaseVersion(MetadataVersion.latestProduction())
                        // A restart on existing data keeps what was formatted before.
                        .setIgnoreFormatted(true);
                formatter.run();
            } catch (Exception e) {
                throw new IllegalStateException("cannot format Kafka storage in " + dir, e);
            }
        }
    }

    /**
     * KafkaRaftServer does not expose the port a port-0 listener bound; its private {@code broker()} does.
     * Pinned to Kafka 4.4 (see VERSIONS.md); a failure here names the method to look for.
     */
    private static int boundBrokerPort(KafkaRaftServer server, String listener) {
        try {
            Method brokerMethod = KafkaRaftServer.class.getDeclaredMethod("broker");
            brokerMethod.setAccessible(true);
            scala.Option<?> broker = (scala.Option<?>) brokerMethod.invoke(server);
            kafka.server.BrokerServer brokerServer = (kafka.server.BrokerServer) broker.get();
            return brokerServer.boundPort(ListenerName.normalised(listener));
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read the bound port from KafkaRaftServer.broker()", e);
        }
    }

    /** Settings for an {@link EmbeddedKafka}. */
    public static final class Builder {
        private int brokers = 1;
        private int port;
        private int controllerPort;
        private Path dataDir;
        private final Map<String, String> brokerProperties = new LinkedHashMap<>();
        private Map<String, String> saslUsers;

        private Builder() {
        }

        /** 1 (default): one combined node. n &gt; 1: one controller and n brokers. */
        public Builder brokers(int count) {
            if (count < 1) {
                throw new IllegalArgumentException("brokers must be at least 1, was " + count);
            }
            this.brokers = count;
            return this;
        }

        /** The client port of a single-node cluster; 0 (default) picks a free one. */
        public Builder port(int port) {
            this.port = port;
            return this;
        }

        /** The controller's port; 0 (default) picks a free one. */
        public Builder controllerPort(int port) {
            this.controllerPort = port;
            return this;
        }

        /** Keep data here (not deleted on close; reused by a later start). Default: a temporary directory. */
        public Builder dataDir(Path dir) {
            this.dataDir = dir;
            return this;
        }

        /** Any broker setting, applied last (it overrides the defaults). */
        public Builder brokerProperty(String key, String value) {
            brokerProperties.put(Objects.requireNonNull(key), Objects.requireNonNull(value));
            return this;
        }

        public Builder brokerProperties(Map<String, String> properties) {
            properties.forEach(this::brokerProperty);
            return this;
        }

        /**
         * Require SASL/PLAIN on the client listener with these users (user to password); the first user is the
         * one brokers use among themselves and the one {@link #clientProperties()} uses.
         */
        public Builder saslPlain(Map<String, String> users) {
            if (users.isEmpty()) {
                throw new IllegalArgumentException("at least one SASL user is needed");
            }
            this.saslUsers = Collections.unmodifiableMap(new LinkedHashMap<>(users));
            return this;
        }

        public EmbeddedKafka build() {
            if (brokers > 1 && port != 0) {
                throw new IllegalArgumentException("a fixed port is only supported with one broker");
            }
            return new EmbeddedKafka(this);
        }

        /** Builds and starts. */
        public EmbeddedKafka start() {
            return build().start();
        }
    }
}
