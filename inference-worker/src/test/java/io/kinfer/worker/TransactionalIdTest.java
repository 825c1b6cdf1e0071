package io.kinfer.worker;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

/**
 * Exactly-once mode names each model's transactional producer after worker.id. Only a worker.id that a replacement
 * keeps makes the replacement fence its predecessor's open transaction; the default (host-pid) does not, and the
 * worker says so at start.
 */
class TransactionalIdTest {

    private static WorkerConfig config(Object... keyValues) {
        Map<String, Object> settings = new HashMap<>(Map.of(WorkerConfig.MODELS, "sentiment",
                "kafka.bootstrap.servers", "127.0.0.1:1"));
        for (int i = 0; i < keyValues.length; i += 2) {
            settings.put((String) keyValues[i], keyValues[i + 1]);
        }
        return new WorkerConfig(settings);
    }

    @Test
    void exactlyOnceWithTheDefaultWorkerIdIsWarnedAbout() {
        assertThat(InferenceWorker.unstableTransactionalIdWarning(config(WorkerConfig.EXACTLY_ONCE, "true")))
                .hasValueSatisfying(warning -> assertThat(warning).contains("worker.id").contains("fence"));
    }

    @Test
    void aStableIdOrNoTransactionsNeedNoWarning() {
        assertThat(InferenceWorker.unstableTransactionalIdWarning(config(WorkerConfig.EXACTLY_ONCE, "true",
                WorkerConfig.WORKER_ID, "worker-0"))).isEmpty();
        assertThat(InferenceWorker.unstableTransactionalIdWarning(config(WorkerConfig.EXACTLY_ONCE, "true",
                "kafka.producer.transactional.id", "orders"))).isEmpty();
        assertThat(InferenceWorker.unstableTransactionalIdWarning(config())).isEmpty();
    }

    @Test
    void theTransactionalIdFollowsAnExplicitWorkerId() {
        assertThat(InferenceWorker.transactionalId(config(WorkerConfig.EXACTLY_ONCE, "true",
                WorkerConfig.WORKER_ID, "worker-0"), "minilm")).isEqualTo("kinfer-worker-0-minilm");
    }
}
