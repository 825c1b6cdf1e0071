package io.kinfer.config;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import org.junit.jupiter.api.Test;

class UnknownSettingsTest {

    private static final Set<String> KNOWN = Set.of("batch.max.size", "batch.max.queue.size", "gateway.port",
            "kafka.bootstrap.servers", "metrics.port");
    private static final List<String> PREFIXES = List.of("kafka.", "jobs.streams.");

    @Test
    void keysUnderAPassThroughPrefixOrDefinedAreNotUnknown() {
        assertThat(UnknownSettings.find(List.of("batch.max.szie", "kafka.consumer.max.poll.records",
                "jobs.streams.num.standby.replicas", "gateway.port", "kafak.bootstrap.servers"), KNOWN, PREFIXES))
                .containsExactly("batch.max.szie", "kafak.bootstrap.servers");
    }

    @Test
    void aTypoIsNamedWithItsSourceAndTheNearestKnownKey() {
        Map<String, String> sources = Map.of("batch.max.szie", "--set batch.max.szie");

        Optional<String> warning = UnknownSettings.warning(List.of("batch.max.szie", "gateway.port",
                "something.else.entirely"), KNOWN, PREFIXES, key -> Optional.ofNullable(sources.get(key)));

        assertThat(warning).contains("unknown settings, ignored: batch.max.szie (from --set batch.max.szie; did you "
                + "mean batch.max.size?), something.else.entirely");
    }

    @Test
    void nothingToSayWhenEveryKeyIsKnown() {
        assertThat(UnknownSettings.warning(List.of("gateway.port", "kafka.acks"), KNOWN, PREFIXES,
                key -> Optional.empty())).isEmpty();
    }

    @Test
    void nearestCountsASwapOfNeighboursAsOneEdit() {
        assertThat(UnknownSettings.distance("szie", "size")).isEqualTo(1);
        assertThat(UnknownSettings.nearest("metrics.prot", KNOWN)).contains("metrics.port");
        assertThat(UnknownSettings.nearest("completely.different", KNOWN)).isEmpty();
    }
}
