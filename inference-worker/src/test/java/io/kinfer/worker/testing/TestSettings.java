package io.kinfer.worker.testing;

import java.util.HashMap;
import java.util.Map;
import java.util.stream.Collectors;

import io.kinfer.kafka.embedded.EmbeddedKafka;

/** Settings maps for tests: the cluster's client properties under {@code kafka.}, plus key-value pairs. */
public final class TestSettings {

    private TestSettings() {
    }

    public static Map<String, Object> forKafka(EmbeddedKafka kafka, Object... keyValues) {
        Map<String, Object> settings = new HashMap<>(kafka.clientProperties().entrySet().stream()
                .collect(Collectors.toMap(e -> "kafka." + e.getKey(), Map.Entry::getValue)));
        for (int i = 0; i < keyValues.length; i += 2) {
            settings.put((String) keyValues[i], String.valueOf(keyValues[i + 1]));
        }
        return settings;
    }
}
