package io.kinfer.cli;

import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

import io.kinfer.client.ClientConfig;
import io.kinfer.config.ConfigLoader;
import io.kinfer.config.KafkaClientProperties;
import io.kinfer.config.UnknownSettings;
import io.kinfer.gateway.GatewayConfig;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.worker.WorkerConfig;

/**
 * Every setting some kinfer part defines: the worker's, the gateway's, the inference client's and the jobs'. One
 * config file (or one set of variables) is commonly shared by a worker and a gateway, so a key is warned about only
 * when no part defines it, not when another part than this process reads it.
 */
final class KnownSettings {

    static final Set<String> KEYS = keys();
    /** Handed to Kafka's clients and to Kafka Streams unchanged: whatever follows is theirs to check. */
    static final List<String> PASS_THROUGH_PREFIXES = List.of(KafkaClientProperties.PREFIX, JobsConfig.STREAMS_PREFIX);

    private KnownSettings() {
    }

    private static Set<String> keys() {
        Set<String> keys = new TreeSet<>();
        keys.addAll(WorkerConfig.DEFINITION.names());
        keys.addAll(GatewayConfig.DEFINITION.names());
        keys.addAll(ClientConfig.DEFINITION.names());
        keys.addAll(JobsConfig.DEFINITION.names());
        return Set.copyOf(keys);
    }

    /** The warning for the loaded settings' unknown keys, naming where each came from; empty when all are known. */
    static Optional<String> warning(ConfigLoader.Loaded loaded) {
        return UnknownSettings.warning(loaded.settings().keySet(), KEYS, PASS_THROUGH_PREFIXES, loaded::sourceOf);
    }
}
