package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

/** The live progress when stderr is a file or a pipe: what a log of the run keeps of each load. */
class ProgressTest {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final Progress progress = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), false);
    private final LoadRunner.Plan plan = new LoadRunner.Plan("users=4", 4, 0, true, 1, Duration.ofSeconds(2),
            Duration.ofSeconds(6));

    private List<String> lines() {
        return bytes.toString(StandardCharsets.UTF_8).lines().toList();
    }

    @Test
    void aPipedRunPrintsTheMeasuredWindowAndItsLastLineAfterTheWarmUp() {
        // As LoadRunner ticks: the warm-up's second 1 (a little late, as a parked thread wakes), then the window's
        // seconds 1 to 6, the last tick a hair early on the warm-up's clock. Before, the warm-up's line at 1.0005 s
        // held the window's lines back until 6.0005 s of it, so a 6 s window printed nothing at all.
        progress.update(plan, 1.0005, 0, Double.NaN, 0, true);
        for (int second = 1; second <= 5; second++) {
            progress.update(plan, second, 100, 12.5, 0, false);
        }
        progress.update(plan, 5.9999, 100, 12.5, 0, false);
        progress.done();

        List<String> lines = lines();
        assertThat(lines.get(0)).contains("warming up");
        assertThat(lines).anyMatch(line -> line.contains("   1/6 s"));
        // The window's last figures are always printed, once.
        assertThat(lines.get(lines.size() - 1)).contains("   6/6 s").contains("p99    12.5 ms");
        assertThat(lines).filteredOn(line -> line.contains("6/6 s")).hasSize(1);
    }

    @Test
    void eachLoadGetsItsOwnFinalLine() {
        for (String name : List.of("users=1", "users=2")) {
            LoadRunner.Plan load = new LoadRunner.Plan(name, 1, 0, true, 1, Duration.ZERO, Duration.ofSeconds(3));
            for (int second = 1; second <= 3; second++) {
                progress.update(load, second, 50, 8, 0, false);
            }
            progress.done();
        }

        assertThat(lines()).filteredOn(line -> line.contains("3/3 s")).hasSize(2);
        assertThat(lines()).filteredOn(line -> line.startsWith("users=2") && line.contains("1/3 s")).hasSize(1);
    }

    @Test
    void aSecondWithNoAnswerShowsNoP99RatherThanZero() {
        progress.update(plan, 1, 0, Double.NaN, 3, false);

        assertThat(lines().get(0)).contains("p99       – ms").doesNotContain("0.0 ms");
    }
}
