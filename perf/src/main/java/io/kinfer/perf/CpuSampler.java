package io.kinfer.perf;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * CPU time of the local kinfer processes (broker, workers, gateway, found by their command lines) and of this
 * load generator over a measured window, as cores used. On a machine where everything shares a few cores, this is
 * what separates "the pipeline is slow" from "the model got fewer cores than when measured alone".
 */
final class CpuSampler {

    private final Map<Long, String> names = new HashMap<>();
    private final Map<Long, Duration> startCpu = new HashMap<>();
    private final Map<String, Double> cores = new TreeMap<>();
    private long startNanos;

    void start() {
        startNanos = System.nanoTime();
        ProcessHandle.allProcesses().forEach(handle -> {
            String name = name(handle);
            if (name != null) {
                handle.info().totalCpuDuration().ifPresent(cpu -> {
                    names.put(handle.pid(), name);
                    startCpu.put(handle.pid(), cpu);
                });
            }
        });
    }

    void stop() {
        double wall = (System.nanoTime() - startNanos) / 1e9;
        if (startNanos == 0 || wall <= 0) {
            return;
        }
        startCpu.forEach((pid, before) -> ProcessHandle.of(pid).flatMap(h -> h.info().totalCpuDuration())
                .ifPresent(after -> cores.merge(names.get(pid),
                        Math.round((after.minus(before).toNanos() / 1e9) / wall * 100) / 100.0, Double::sum)));
    }

    /** Cores used per process over the window; empty if the window never started. */
    Map<String, Double> coresUsed() {
        return cores.isEmpty() ? null : Map.copyOf(cores);
    }

    private static String name(ProcessHandle handle) {
        if (handle.pid() == ProcessHandle.current().pid()) {
            return "load generator";
        }
        String command = handle.info().commandLine().orElse("");
        int at = command.indexOf("kinfer.jar ");
        if (at < 0) {
            return null;
        }
        String[] args = command.substring(at + "kinfer.jar ".length()).split(" ");
        String role = args[0];
        if (role.equals("worker")) {
            for (int i = 0; i < args.length - 1; i++) {
                if (args[i].equals("--id")) {
                    return "worker " + args[i + 1];
                }
            }
            return "worker " + handle.pid();
        }
        return role.equals("broker") || role.equals("gateway") ? role : null;
    }
}
