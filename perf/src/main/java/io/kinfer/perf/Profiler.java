package io.kinfer.perf;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * Java Flight Recorder on the pipeline's processes during a run, through {@code jcmd} (so it works on any
 * running worker or gateway without restarting it), and the two cProfile-like views of the result: the hottest
 * methods by self time (top frame of each sample) and by total time (anywhere on the stack).
 */
final class Profiler {

    private static final String RECORDING = "kinfer-perf";

    /** A process to profile: a name for the report and its pid. */
    record Process(String name, long pid) {
    }

    private Profiler() {
    }

    /** The workers and gateways of the measured pipeline ({@link LocalPipeline}), each named by role and pid. */
    static List<Process> findLocal(LocalPipeline pipeline) {
        List<Process> found = new ArrayList<>();
        for (LocalPipeline.Member member : pipeline.members()) {
            if (member.role().equals("worker") || member.role().equals("gateway")) {
                found.add(new Process(member.role() + "-" + member.pid(), member.pid()));
            }
        }
        return found;
    }

    static void start(Process process) throws IOException, InterruptedException {
        jcmd(process.pid(), "JFR.start", "name=" + RECORDING, "settings=profile");
    }

    static Path stop(Process process, Path directory) throws IOException, InterruptedException {
        Path file = directory.toAbsolutePath().resolve(process.name() + ".jfr");
        jcmd(process.pid(), "JFR.stop", "name=" + RECORDING, "filename=" + file);
        return file;
    }

    /** Counts execution samples: self time by the top frame, total time by every distinct method on the stack. */
    static PerfReport.ProfileResult analyze(String name, Path jfr, int top) throws IOException {
        Map<String, Long> self = new HashMap<>();
        Map<String, Long> total = new HashMap<>();
        long samples = 0;
        for (RecordedEvent event : RecordingFile.readAllEvents(jfr)) {
            if (!event.getEventType().getName().equals("jdk.ExecutionSample") || event.getStackTrace() == null) {
                continue;
            }
            List<RecordedFrame> frames = event.getStackTrace().getFrames();
            if (frames.isEmpty()) {
                continue;
            }
            samples++;
            self.merge(method(frames.get(0)), 1L, Long::sum);
            Set<String> seen = new HashSet<>();
            for (RecordedFrame frame : frames) {
                String method = method(frame);
                if (seen.add(method)) {
                    total.merge(method, 1L, Long::sum);
                }
            }
        }
        return new PerfReport.ProfileResult(name, jfr.toString(), samples, ranked(self, samples, top),
                ranked(total, samples, top));
    }

    private static List<PerfReport.MethodShare> ranked(Map<String, Long> counts, long samples, int top) {
        return counts.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue(Comparator.reverseOrder()))
                .limit(top)
                .map(e -> new PerfReport.MethodShare(e.getKey(), e.getValue(),
                        Math.round(e.getValue() * 1000.0 / Math.max(1, samples)) / 10.0))
                .toList();
    }

    private static String method(RecordedFrame frame) {
        return frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
    }

    private static void jcmd(long pid, String... command) throws IOException, InterruptedException {
        List<String> args = new ArrayList<>();
        args.add(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString());
        args.add(Long.toString(pid));
        args.addAll(List.of(command));
        java.lang.Process process = new ProcessBuilder(args).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            throw new IOException("jcmd " + String.join(" ", command) + " failed for pid " + pid + ": " + output.strip());
        }
    }
}
