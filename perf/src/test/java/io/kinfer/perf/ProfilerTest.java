package io.kinfer.perf;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Profiling processes that may not live through the run (a failover test kills one). */
class ProfilerTest {

    /** A JVM to profile: says it is ready, then waits for its stdin to close. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            System.out.println("ready");
            System.out.flush();
            while (System.in.read() >= 0) {
                // until the parent closes stdin or kills this process
            }
        }
    }

    private final List<Process> children = new ArrayList<>();

    private Profiler.Process child(String name) throws Exception {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process process = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                Child.class.getName()).redirectErrorStream(true).start();
        children.add(process);
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        assertThat(out.readLine()).isEqualTo("ready");
        return new Profiler.Process(name, process.pid());
    }

    @AfterEach
    void stopChildren() throws Exception {
        for (Process process : children) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aProcessThatExitedDuringTheRunLosesOnlyItsOwnProfile(@TempDir Path dir) throws Exception {
        Profiler.Process killed = child("worker-killed");
        Profiler.Process alive = child("worker-alive");
        Profiler.start(killed);
        Profiler.start(alive);

        Process victim = children.get(0);
        victim.destroyForcibly();
        assertThat(victim.waitFor(30, TimeUnit.SECONDS)).isTrue();
        // Before, stopping the first recording threw, and the run's report (and the other profile) were lost.
        List<PerfReport.ProfileResult> profiles = PerfCommand.stopProfiling(List.of(killed, alive), dir);

        assertThat(profiles).extracting(PerfReport.ProfileResult::process).containsExactly("worker-alive");
        assertThat(dir.resolve("worker-alive.jfr")).exists();
    }
}
