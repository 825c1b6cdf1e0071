package io.kinfer.perf;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The local kinfer processes (broker, workers, gateways, found by their command lines) of the pipeline a load
 * measures: those on the Kafka cluster the load's target uses. Two pipelines on one machine (an A/B, a failover test
 * next to a main pipeline, another user's run) are not counted or profiled as one: CPU figures and profiles are per
 * process, and a name two processes would share gets their pids.
 *
 * <p>The cluster is the Kafka target's bootstrap servers, or for HTTP that of the local gateway serving the URL's
 * port: the one with that {@code --port} on its command line, else the one listening on it (Linux {@code /proc}).
 * When it cannot be told, every local kinfer process is taken, as before, and {@link #note()} says so.
 */
final class LocalPipeline {

    /** One local kinfer process: its role, its name in reports, the clusters it uses, its --port (-1: none given). */
    record Member(long pid, String role, String name, Set<String> bootstraps, int port) {
    }

    private final List<Member> members;
    private final String note;

    private LocalPipeline(List<Member> members, String note) {
        this.members = List.copyOf(members);
        this.note = note;
    }

    List<Member> members() {
        return members;
    }

    /** Why the pipeline is every local kinfer process (it could not be told apart), or null. */
    String note() {
        return note;
    }

    /** The local pipeline behind a Kafka target with these bootstrap servers. */
    static LocalPipeline forKafka(String bootstrapServers) {
        List<Member> all = scan();
        return select(all, bootstraps(bootstrapServers), null);
    }

    /** The local pipeline behind the gateway at this URL. */
    static LocalPipeline forGateway(String url) {
        List<Member> all = scan();
        URI uri = URI.create(url);
        int port = uri.getPort() >= 0 ? uri.getPort() : "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
        if (!isLoopback(uri.getHost())) {
            return new LocalPipeline(List.of(), null); // a remote gateway: nothing local to measure
        }
        List<Member> gateways = all.stream().filter(m -> m.role().equals("gateway")).toList();
        Optional<Member> gateway = gateways.stream().filter(m -> m.port() == port).findFirst();
        if (gateway.isEmpty()) {
            Optional<Long> listening = listeningPid(port, gateways.stream().map(Member::pid).toList());
            gateway = gateways.stream().filter(m -> listening.isPresent() && m.pid() == listening.get()).findFirst();
        }
        if (gateway.isEmpty()) {
            return new LocalPipeline(unique(all), all.isEmpty() ? null : "no local kinfer gateway found on port "
                    + port + ": CPU and profiles cover every local kinfer process");
        }
        return select(all, gateway.get().bootstraps(), gateway.get());
    }

    /** Members on the cluster (and the given gateway, whatever its cluster); names made unique. */
    static LocalPipeline select(List<Member> all, Set<String> cluster, Member gateway) {
        List<Member> chosen = all.stream().filter(m -> m == gateway
                || m.bootstraps().stream().anyMatch(cluster::contains)).toList();
        return new LocalPipeline(unique(chosen), null);
    }

    /** Appends the pid to a name two members share, so that nothing is merged by name. */
    static List<Member> unique(List<Member> members) {
        Map<String, Integer> counts = new HashMap<>();
        members.forEach(m -> counts.merge(m.name(), 1, Integer::sum));
        return members.stream().map(m -> counts.get(m.name()) == 1 ? m : new Member(m.pid(), m.role(),
                m.name() + " (pid " + m.pid() + ")", m.bootstraps(), m.port())).toList();
    }

    /** Every local process started as {@code ... kinfer.jar broker|worker|gateway ...}. */
    static List<Member> scan() {
        List<Member> found = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        ProcessHandle.allProcesses().filter(h -> h.pid() != self).forEach(handle -> {
            List<String> args = arguments(handle.info());
            member(handle.pid(), args).ifPresent(found::add);
        });
        return found;
    }

    private static List<String> arguments(ProcessHandle.Info info) {
        List<String> args = new ArrayList<>();
        info.command().ifPresent(args::add);
        Optional<String[]> given = info.arguments();
        if (given.isPresent()) {
            args.addAll(Arrays.asList(given.get()));
            return args;
        }
        // Without the argument array, the command line split at spaces (what was read before).
        return info.commandLine().map(c -> List.of(c.split(" +"))).orElse(List.of());
    }

    /** The member a command line describes, if it is a kinfer broker, worker or gateway. */
    static Optional<Member> member(long pid, List<String> args) {
        int jar = -1;
        for (int i = 0; i < args.size() - 1; i++) {
            if (args.get(i).endsWith("kinfer.jar")) {
                jar = i;
                break;
            }
        }
        if (jar < 0) {
            return Optional.empty();
        }
        String role = args.get(jar + 1);
        if (!Set.of("broker", "worker", "gateway").contains(role)) {
            return Optional.empty();
        }
        List<String> options = args.subList(jar + 2, args.size());
        int port = option(options, "--port").map(LocalPipeline::port).orElse(-1);
        Set<String> bootstraps = switch (role) {
            // A broker started by kinfer listens on 127.0.0.1 at --port (9092 when not given).
            case "broker" -> Set.of("127.0.0.1:" + (port > 0 ? port : 9092));
            default -> bootstraps(option(options, "--kafka").or(() -> option(options, "-k"))
                    .orElse("127.0.0.1:9092"));
        };
        String name = switch (role) {
            case "worker" -> "worker " + option(options, "--id").orElse(Long.toString(pid));
            default -> role;
        };
        return Optional.of(new Member(pid, role, name, bootstraps, port));
    }

    private static Optional<String> option(List<String> options, String name) {
        for (int i = 0; i < options.size(); i++) {
            String option = options.get(i);
            if (option.equals(name) && i + 1 < options.size()) {
                return Optional.of(options.get(i + 1));
            }
            if (option.startsWith(name + "=")) {
                return Optional.of(option.substring(name.length() + 1));
            }
        }
        return Optional.empty();
    }

    private static int port(String value) {
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Bootstrap servers as a set of host:port, loopback names all as 127.0.0.1. */
    static Set<String> bootstraps(String servers) {
        Set<String> set = new LinkedHashSet<>();
        for (String server : servers.split(",")) {
            String s = server.trim();
            int colon = s.lastIndexOf(':');
            if (s.isEmpty() || colon < 0) {
                continue;
            }
            String host = s.substring(0, colon);
            set.add((isLoopback(host) ? "127.0.0.1" : host.toLowerCase(Locale.ROOT)) + ":" + s.substring(colon + 1));
        }
        return set;
    }

    private static boolean isLoopback(String host) {
        if (host == null) {
            return false;
        }
        String h = host.toLowerCase(Locale.ROOT).replace("[", "").replace("]", "");
        return h.equals("localhost") || h.startsWith("127.") || h.equals("::1") || h.equals("0.0.0.0")
                || h.equals("::") || h.equals("0:0:0:0:0:0:0:1");
    }

    /**
     * Which of the candidates listens on this TCP port, from /proc/net/tcp{,6} and the candidates' descriptors
     * (Linux); empty elsewhere, or when none does.
     */
    static Optional<Long> listeningPid(int port, List<Long> candidates) {
        Set<String> inodes = new LinkedHashSet<>();
        for (String table : List.of("/proc/net/tcp", "/proc/net/tcp6")) {
            try {
                inodes.addAll(listeningInodes(Files.readAllLines(Path.of(table)), port));
            } catch (IOException e) {
                // no such table here (not Linux, no IPv6): nothing listens there that we can see
            }
        }
        if (inodes.isEmpty()) {
            return Optional.empty();
        }
        for (long pid : candidates) {
            try (Stream<Path> fds = Files.list(Path.of("/proc", Long.toString(pid), "fd"))) {
                boolean listens = fds.anyMatch(fd -> {
                    try {
                        String link = Files.readSymbolicLink(fd).toString();
                        return link.startsWith("socket:[") && inodes.contains(link.substring(8, link.length() - 1));
                    } catch (IOException e) {
                        return false; // closed meanwhile
                    }
                });
                if (listens) {
                    return Optional.of(pid);
                }
            } catch (IOException e) {
                // gone, or another user's: not ours to measure
            }
        }
        return Optional.empty();
    }

    /** The inodes of the sockets listening (state 0A) on this port in a /proc/net/tcp table. */
    static List<String> listeningInodes(List<String> table, int port) {
        List<String> inodes = new ArrayList<>();
        for (String line : table.subList(Math.min(1, table.size()), table.size())) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 10 || !f[3].equals("0A")) {
                continue;
            }
            int colon = f[1].lastIndexOf(':');
            if (colon >= 0 && Integer.parseInt(f[1].substring(colon + 1), 16) == port) {
                inodes.add(f[9]);
            }
        }
        return inodes;
    }
}
