package io.kinfer.perf;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU time of the measured pipeline's local processes (broker, workers, gateway: {@link LocalPipeline}) and of this
 * load generator over a measured window, as cores used. On a machine where everything shares a few cores, this is
 * what separates "the pipeline is slow" from "the model got fewer cores than when measured alone". Processes are
 * told apart by pid: two of one name (another pipeline's worker-1) are never added together.
 */
final class CpuSampler {

    static final String LOAD_GENERATOR = "load generator";

    private final LocalPipeline pipeline;
    private final Map<Long, String> names = new LinkedHashMap<>();
    private final Map<Long, Duration> startCpu = new LinkedHashMap<>();
    private final Map<String, Double> cores = new TreeMap<>();
    private long startNanos;

    CpuSampler(LocalPipeline pipeline) {
        this.pipeline = pipeline;
    }

    void start() {
        startNanos = System.nanoTime();
        Map<Long, String> processes = new LinkedHashMap<>();
        processes.put(ProcessHandle.current().pid(), LOAD_GENERATOR);
        pipeline.members().forEach(member -> processes.put(member.pid(), member.name()));
        processes.forEach((pid, name) -> ProcessHandle.of(pid).flatMap(h -> h.info().totalCpuDuration())
                .ifPresent(cpu -> {
                    names.put(pid, name);
                    startCpu.put(pid, cpu);
                }));
    }

    void stop() {
        double wall = (System.nanoTime() - startNanos) / 1e9;
        if (startNanos == 0 || wall <= 0) {
            return;
        }
        startCpu.forEach((pid, before) -> ProcessHandle.of(pid).flatMap(h -> h.info().totalCpuDuration())
                .ifPresent(after -> cores.put(names.get(pid),
                        Math.round((after.minus(before).toNanos() / 1e9) / wall * 100) / 100.0)));
    }

    /** Cores used per process over the window; null if the window never started. */
    Map<String, Double> coresUsed() {
        // In the order of the names (Map.copyOf would print them in a different order each run).
        return cores.isEmpty() ? null : java.util.Collections.unmodifiableMap(new TreeMap<>(cores));
    }
}
