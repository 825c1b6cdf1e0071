package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.List;

import io.kinfer.kafka.embedded.EmbeddedKafka;
import org.junit.jupiter.api.Test;

/**
 * A worker with static membership (a stable worker.id) killed and restarted within the session timeout gets its
 * own partitions back, and the other replica never rebalances.
 */
class StaticMembershipIT {

    private static final String[] STATIC = {"group.static.membership=true", "kafka.consumer.session.timeout.ms=45000"};

    @Test
    void aRestartedStaticMemberGetsItsPartitionsBackWithoutARebalance() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.startDefault()) {
            kafka.createTopic("kinfer.requests.sentiment", 4);
            String bootstrap = kafka.bootstrapServers();
            WorkerProcess stable = WorkerProcess.start(bootstrap, "static-1", STATIC).awaitReady();
            WorkerProcess other = WorkerProcess.start(bootstrap, "static-2", STATIC).awaitReady();
            try {
                // Both hold partitions, and together all four.
                await().atMost(Duration.ofSeconds(60)).until(() -> count(holdings(stable)) > 0
                        && count(holdings(other)) > 0 && count(holdings(stable)) + count(holdings(other)) == 4);
                String before = holdings(stable);
                int otherLines = other.output().size();

                stable.kill();
                WorkerProcess restarted = WorkerProcess.start(bootstrap, "static-1", STATIC).awaitReady();
                try {
                    await().atMost(Duration.ofSeconds(60)).until(() -> holdings(restarted) != null);

                    assertThat(holdings(restarted)).isEqualTo(before);
                    List<String> otherAfter = other.output().subList(otherLines, other.output().size());
                    assertThat(otherAfter).noneMatch(line -> line.contains(": revoked") || line.contains(": assigned"));
                } finally {
                    restarted.close();
                }
            } finally {
                other.close();
            }
        }
    }

    /** What the worker's last assignment log line says it holds, e.g. "[kinfer.requests.sentiment-0, ...]". */
    private static String holdings(WorkerProcess worker) {
        String last = null;
        for (String line : worker.output()) {
            int at = line.indexOf("now holds ");
            if (at >= 0) {
                last = line.substring(at + "now holds ".length()).replace(")", "").trim();
            }
        }
        return last;
    }

    private static int count(String holdings) {
        return holdings == null || holdings.equals("[]") ? 0 : holdings.split(",").length;
    }
}
