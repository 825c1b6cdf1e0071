package io.kinfer.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.kinfer.client.ClientConfig;
import io.kinfer.config.ConfigLoader;
import io.kinfer.config.Redaction;
import io.kinfer.gateway.GatewayConfig;
import io.kinfer.jobs.JobsConfig;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.WorkerConfig;
import org.junit.jupiter.api.Test;

/**
 * The operations files (docker-compose.yml, deploy/) are not run by the build, so this test holds them to the
 * code: every KINFER_* variable is a real setting, probes and scrapes use the real ports and paths, the workers can
 * scale, KEDA stays within the partitions, and the dashboard queries metrics the code registers.
 */
class DeploymentFilesTest {

    private static final Path ROOT = Path.of("..");
    private static final Path COMPOSE = ROOT.resolve("docker-compose.yml");
    private static final Path K8S = ROOT.resolve("deploy/k8s");
    private static final Path DASHBOARD = ROOT.resolve("deploy/grafana/dashboards/kinfer.json");
    private static final YAMLMapper YAML = new YAMLMapper();

    private static final String GATEWAY_READY = "/v2/health/ready";
    private static final String GATEWAY_LIVE = "/v2/health/live";
    private static final String WORKER_READY = "/health/ready";
    private static final String WORKER_LIVE = "/health/live";

    // ---- docker compose ----

    @Test
    void composeHasEveryServiceAndTheWorkersCanScale() throws IOException {
        JsonNode services = YAML.readTree(COMPOSE.toFile()).path("services");

        assertThat(names(services)).contains("kafka", "topics", "gateway", "inference-worker", "prometheus", "grafana");
        JsonNode worker = services.path("inference-worker");
        // --scale starts N alike containers: a fixed name or host port would collide.
        assertThat(worker.has("container_name")).as("inference-worker must not set container_name").isFalse();
        assertThat(worker.has("ports")).as("inference-worker must not publish host ports").isFalse();
        assertThat(worker.path("command").toString()).contains("\"worker\"");
        // One image, built once by the gateway service, run by both.
        JsonNode gateway = services.path("gateway");
        assertThat(gateway.path("build").isMissingNode()).isFalse();
        assertThat(worker.path("image").asText()).isEqualTo(gateway.path("image").asText()).isNotEmpty();
        assertThat(gateway.path("command").toString()).contains("\"gateway\"");
        assertThat(gateway.path("ports").toString()).contains("8080:8080");
        assertThat(worker.path("depends_on").path("topics").path("condition").asText())
                .isEqualTo("service_completed_successfully");
        assertThat(services.path("topics").path("depends_on").path("kafka").path("condition").asText())
                .isEqualTo("service_healthy");
        // SIGTERM drains for up to shutdown.timeout.ms: compose must wait longer before it kills.
        assertThat(seconds(worker.path("stop_grace_period").asText()) * 1000)
                .isGreaterThan(defaultLong(WorkerConfig.DEFINITION.defaultValues(), "shutdown.timeout.ms"));
        assertThat(worker.path("healthcheck").toString()).contains(WORKER_READY);
        assertThat(gateway.path("healthcheck").toString()).contains(GATEWAY_READY);
    }

    @Test
    void composeEnvironmentNamesRealSettings() throws IOException {
        JsonNode services = YAML.readTree(COMPOSE.toFile()).path("services");
        Map<String, String> gatewayEnv = environment(services.path("gateway"));
        Map<String, String> workerEnv = environment(services.path("inference-worker"));

        assertThat(gatewayEnv).containsEntry("KINFER_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
                .containsEntry("KINFER_GATEWAY_HOST", "0.0.0.0");
        assertThat(workerEnv).containsEntry("KINFER_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
                .containsEntry("KINFER_METRICS_HOST", "0.0.0.0")
                .containsEntry("KINFER_METRICS_PORT", "9400")
                .containsEntry("KINFER_TOPICS_CREATE", "false");
        assertThat(unknownSettings(gatewayEnv.keySet(), gatewayKeys())).isEmpty();
        assertThat(unknownSettings(workerEnv.keySet(), WorkerConfig.DEFINITION.names())).isEmpty();
    }

    @Test
    void composeCreatesTheTopicsTheWorkersNoLongerCreate() throws IOException {
        String script = YAML.readTree(COMPOSE.toFile()).path("services").path("topics").path("command").toString();
        int partitions = Topics.DEFAULT_REQUEST_PARTITIONS;

        for (String model : defaultModels()) {
            assertThat(script).contains("create " + Topics.requestTopic(model) + " " + partitions);
        }
        assertThat(script).contains("create " + Topics.DEFAULT_REPLY_TOPIC + " ", "create " + Topics.DEAD_LETTER + " ",
                "create " + Topics.CATALOG + " 1 --config cleanup.policy=compact", "--if-not-exists");
    }

    @Test
    void prometheusScrapesTheGatewayAndEveryWorkerReplica() throws IOException {
        JsonNode jobs = YAML.readTree(ROOT.resolve("deploy/prometheus/prometheus.yml").toFile()).path("scrape_configs");
        JsonNode workers = job(jobs, "kinfer-workers");
        JsonNode gateway = job(jobs, "kinfer-gateway");

        JsonNode dns = workers.path("dns_sd_configs").path(0);
        assertThat(dns.path("names").toString()).contains("\"inference-worker\"");
        assertThat(dns.path("type").asText()).isEqualTo("A");
        assertThat(dns.path("port").asInt()).isEqualTo(defaultInt(WorkerConfig.DEFINITION.defaultValues(),
                "metrics.port"));
        assertThat(gateway.path("static_configs").toString())
                .contains("gateway:" + defaultInt(GatewayConfig.DEFINITION.defaultValues(), "gateway.port"));
    }

    /** `docker-compose config` validates the file without a Docker daemon; skipped where neither CLI exists. */
    @Test
    void dockerComposeAcceptsTheFile() throws Exception {
        Optional<List<String>> cli = composeCommand();
        assumeThat(cli).as("docker-compose or docker compose is not installed").isPresent();

        List<String> command = new ArrayList<>(cli.get());
        command.addAll(List.of("-f", COMPOSE.toAbsolutePath().normalize().toString(), "config", "-q"));
        Run run = run(command, Duration.ofSeconds(60));

        assertThat(run.exitCode()).as("%s:%n%s", command, run.output()).isZero();
    }

    // ---- Kubernetes ----

    @Test
    void everyManifestHasApiVersionKindAndName() throws IOException {
        List<Path> files = manifestFiles();
        assertThat(files).extracting(f -> f.getFileName().toString()).contains("namespace.yaml", "configmap.yaml",
                "gateway-deployment.yaml", "gateway-service.yaml", "worker-deployment.yaml",
                "worker-keda-scaledobject.yaml", "kustomization.yaml");

        for (Path file : files) {
            List<JsonNode> docs = documents(file);
            assertThat(docs).as(file.toString()).isNotEmpty();
            for (JsonNode doc : docs) {
                assertThat(doc.path("apiVersion").asText()).as("%s apiVersion", file).isNotEmpty();
                assertThat(doc.path("kind").asText()).as("%s kind", file).isNotEmpty();
                assertThat(doc.path("metadata").path("name").asText()).as("%s metadata.name", file).isNotEmpty();
            }
        }
    }

    @Test
    void kustomizationListsEveryOtherManifest() throws IOException {
        JsonNode kustomization = documents(K8S.resolve("kustomization.yaml")).get(0);
        Set<String> listed = new TreeSet<>();
        kustomization.path("resources").forEach(r -> listed.add(r.asText()));

        Set<String> files = manifestFiles().stream().map(f -> f.getFileName().toString())
                .filter(name -> !name.equals("kustomization.yaml")).collect(Collectors.toCollection(TreeSet::new));
        assertThat(listed).isEqualTo(files);
    }

    @Test
    void kubernetesEnvironmentNamesRealSettings() throws IOException {
        Map<String, String> shared = new LinkedHashMap<>();
        kind("ConfigMap").get(0).path("data").forEachEntry((name, value) -> shared.put(name, value.asText()));
        Set<String> everyKey = new HashSet<>(gatewayKeys());
        everyKey.addAll(WorkerConfig.DEFINITION.names());

        assertThat(unknownSettings(shared.keySet(), everyKey)).isEmpty();
        assertThat(unknownSettings(containerEnv(deployment("kinfer-gateway")).stream()
                .filter(name -> !name.equals("POD_NAME")).toList(), gatewayKeys())).isEmpty();
        assertThat(unknownSettings(containerEnv(deployment("kinfer-worker")), WorkerConfig.DEFINITION.names()))
                .isEmpty();
        // The gateway's client.id is the pod name, given as a flag: an environment variable would be inherited by
        // a command run in the pod (kubectl exec), which would then share and delete the gateway's reply topic.
        assertThat(containerEnv(deployment("kinfer-gateway"))).contains("POD_NAME").doesNotContain("KINFER_CLIENT_ID");
        assertThat(container(deployment("kinfer-gateway")).path("args").toString())
                .contains("client.id=$(POD_NAME)");
        assertThat(containerEnv(deployment("kinfer-worker"))).contains("KINFER_WORKER_ID");
        assertThat(shared).containsEntry("KINFER_GATEWAY_HOST", "0.0.0.0")
                .containsEntry("KINFER_METRICS_HOST", "0.0.0.0");
    }

    @Test
    void probesPointAtTheRealEndpoints() throws IOException {
        JsonNode gateway = container(deployment("kinfer-gateway"));
        JsonNode worker = container(deployment("kinfer-worker"));
        int gatewayPort = defaultInt(GatewayConfig.DEFINITION.defaultValues(), "gateway.port");
        int metricsPort = defaultInt(WorkerConfig.DEFINITION.defaultValues(), "metrics.port");

        assertProbe(gateway, "readinessProbe", GATEWAY_READY, gatewayPort);
        assertProbe(gateway, "livenessProbe", GATEWAY_LIVE, gatewayPort);
        assertProbe(worker, "readinessProbe", WORKER_READY, metricsPort);
        assertProbe(worker, "livenessProbe", WORKER_LIVE, metricsPort);
        // The paths above are the ones the servers register.
        assertThat(Files.readString(ROOT.resolve("gateway/src/main/java/io/kinfer/gateway/GatewayServer.java")))
                .contains('"' + GATEWAY_READY + '"', '"' + GATEWAY_LIVE + '"');
        assertThat(Files.readString(ROOT.resolve("inference-worker/src/main/java/io/kinfer/worker/HealthServer.java")))
                .contains('"' + WORKER_READY + '"', '"' + WORKER_LIVE + '"');

        assertThat(deployment("kinfer-gateway").path("spec").path("replicas").asInt()).isEqualTo(2);
        JsonNode workerPod = deployment("kinfer-worker").path("spec").path("template");
        assertThat(workerPod.path("metadata").path("annotations").path("prometheus.io/port").asText())
                .isEqualTo(Integer.toString(metricsPort));
        assertThat(workerPod.path("spec").path("terminationGracePeriodSeconds").asLong() * 1000)
                .isGreaterThan(defaultLong(WorkerConfig.DEFINITION.defaultValues(), "shutdown.timeout.ms"));
    }

    @Test
    void kedaScalesEachModelWithinItsPartitions() throws IOException {
        JsonNode scaledObject = kind("ScaledObject").get(0);
        JsonNode spec = scaledObject.path("spec");

        assertThat(scaledObject.path("apiVersion").asText()).isEqualTo("keda.sh/v1alpha1");
        assertThat(spec.path("scaleTargetRef").path("name").asText()).isEqualTo("kinfer-worker");
        assertThat(spec.path("minReplicaCount").asInt()).isGreaterThanOrEqualTo(1);
        // Consumer-group replicas beyond the partitions of a request topic would sit idle.
        assertThat(spec.path("maxReplicaCount").asInt()).isBetween(1, Topics.DEFAULT_REQUEST_PARTITIONS);
        String prefix = (String) WorkerConfig.DEFINITION.defaultValues().get("group.id.prefix");
        Map<String, String> topicByGroup = new LinkedHashMap<>();
        for (JsonNode trigger : spec.path("triggers")) {
            assertThat(trigger.path("type").asText()).isEqualTo("kafka");
            topicByGroup.put(trigger.path("metadata").path("consumerGroup").asText(),
                    trigger.path("metadata").path("topic").asText());
        }
        for (String model : defaultModels()) {
            assertThat(topicByGroup).containsEntry(prefix + "." + model, Topics.requestTopic(model));
        }
    }

    @Test
    void theShareGroupOverlaySwitchesTheModeAndScalesOnTheBacklogTheWorkersReport() throws IOException {
        Path overlay = ROOT.resolve("deploy/k8s-share-group");
        JsonNode kustomization = documents(overlay.resolve("kustomization.yaml")).get(0);
        List<String> resources = new ArrayList<>();
        kustomization.path("resources").forEach(r -> resources.add(r.asText()));
        assertThat(resources).containsExactly("../k8s", "podmonitor.yaml");
        List<String> patches = kustomization.path("patches").findValuesAsText("path");
        assertThat(patches).containsExactlyInAnyOrder("configmap-share.yaml", "scaledobject-prometheus.yaml");

        JsonNode configPatch = documents(overlay.resolve("configmap-share.yaml")).get(0);
        assertThat(configPatch.path("metadata").path("name").asText())
                .isEqualTo(kind("ConfigMap").get(0).path("metadata").path("name").asText());
        String mode = configPatch.path("data").path("KINFER_GROUP_MODE").asText();
        assertThat(new WorkerConfig(Map.of(ConfigLoader.envToKey("KINFER_GROUP_MODE"), mode)).shareGroups()).isTrue();
        // A group prefix of its own: Kafka does not turn the consumer groups of a deployment switched over into
        // share groups, and a share consumer joining one of their names fails.
        String prefix = configPatch.path("data").path("KINFER_GROUP_ID_PREFIX").asText();
        assertThat(prefix).isNotBlank().isNotEqualTo(WorkerConfig.DEFINITION.defaultValues().get(WorkerConfig.GROUP_ID_PREFIX));
        // Prometheus Operator scrapes the workers only through a PodMonitor: the port and path they serve.
        JsonNode podMonitor = documents(overlay.resolve("podmonitor.yaml")).get(0);
        assertThat(podMonitor.path("kind").asText()).isEqualTo("PodMonitor");
        assertThat(podMonitor.path("spec").path("selector").path("matchLabels").path("app.kubernetes.io/component")
                .asText()).isEqualTo("worker");
        assertThat(podMonitor.path("spec").path("podMetricsEndpoints").get(0).path("path").asText())
                .isEqualTo("/metrics");
        assertThat(container(deployment("kinfer-worker")).path("ports").findValuesAsText("name"))
                .contains(podMonitor.path("spec").path("podMetricsEndpoints").get(0).path("port").asText());

        // A JSON 6902 patch: a list of operations.
        JsonNode ops = YAML.readTree(overlay.resolve("scaledobject-prometheus.yaml").toFile());
        Map<String, JsonNode> replaced = new LinkedHashMap<>();
        ops.forEach(op -> {
            assertThat(op.path("op").asText()).isEqualTo("replace");
            replaced.put(op.path("path").asText(), op.path("value"));
        });
        // Share-group members are not capped by the partitions.
        assertThat(replaced.get("/spec/maxReplicaCount").asInt()).isGreaterThan(Topics.DEFAULT_REQUEST_PARTITIONS);
        Set<String> meters = meterNames();
        List<String> queries = new ArrayList<>();
        for (JsonNode trigger : replaced.get("/spec/triggers")) {
            assertThat(trigger.path("type").asText()).isEqualTo("prometheus");
            assertThat(trigger.path("metadata").path("threshold").asText()).isNotEmpty();
            queries.add(trigger.path("metadata").path("query").asText());
        }
        assertThat(meterOf("kinfer_consumer_lag", meters)).isPresent();
        for (String model : defaultModels()) {
            // Every member reports the whole group's backlog: max, not sum.
            assertThat(queries).contains("max(kinfer_consumer_lag{model=\"" + model + "\"})");
        }
    }

    // ---- Grafana ----

    @Test
    void everyDashboardPanelQueriesKinferMetricsTheCodeRegisters() throws IOException {
        JsonNode dashboard = new ObjectMapper().readTree(DASHBOARD.toFile());
        Set<String> meters = meterNames();
        Pattern metric = Pattern.compile("\\bkinfer_[a-z_]+");

        assertThat(dashboard.path("schemaVersion").asInt()).isGreaterThanOrEqualTo(36);
        List<JsonNode> panels = new ArrayList<>();
        dashboard.path("panels").forEach(p -> {
            if (!p.path("type").asText().equals("row")) {
                panels.add(p);
            }
        });
        assertThat(panels).hasSizeGreaterThanOrEqualTo(10);
        for (JsonNode panel : panels) {
            String title = panel.path("title").asText();
            assertThat(panel.path("datasource").path("type").asText()).as(title).isEqualTo("prometheus");
            JsonNode targets = panel.path("targets");
            assertThat(targets.size()).as(title).isPositive();
            assertThat(targets.findValuesAsText("expr")).as(title).anyMatch(expr -> expr.contains("kinfer_"));
            for (String expr : targets.findValuesAsText("expr")) {
                Matcher m = metric.matcher(expr);
                while (m.find()) {
                    assertThat(meterOf(m.group(), meters)).as("%s: %s is not a kinfer meter", title, m.group())
                            .isPresent();
                }
            }
        }
    }

    // ---- helpers ----

    private static Set<String> gatewayKeys() {
        Set<String> keys = new HashSet<>(GatewayConfig.DEFINITION.names());
        keys.addAll(ClientConfig.DEFINITION.names());
        return keys;
    }

    /** The KINFER_* names whose key no ConfigDef defines (kafka.* keys pass through to the Kafka clients). */
    private static List<String> unknownSettings(Iterable<String> envNames, Set<String> keys) {
        List<String> unknown = new ArrayList<>();
        for (String name : envNames) {
            assertThat(name).startsWith(ConfigLoader.ENV_PREFIX);
            String key = ConfigLoader.envToKey(name);
            // Kafka's and Kafka Streams' own settings, checked as the CLI checks them.
            if (!keys.contains(key) && !Redaction.isKafkaClientSetting(key) && !JobsConfig.isStreamsSetting(key)) {
                unknown.add(name + " (" + key + ")");
            }
        }
        return unknown;
    }

    private static List<String> defaultModels() {
        Object models = WorkerConfig.DEFINITION.defaultValues().get("worker.models");
        assertThat(models).isInstanceOf(List.class);
        return ((List<?>) models).stream().map(Object::toString).toList();
    }

    private static int defaultInt(Map<String, Object> defaults, String key) {
        return ((Number) defaults.get(key)).intValue();
    }

    private static long defaultLong(Map<String, Object> defaults, String key) {
        return ((Number) defaults.get(key)).longValue();
    }

    private static long seconds(String composeDuration) {
        assertThat(composeDuration).matches("\\d+s");
        return Long.parseLong(composeDuration.substring(0, composeDuration.length() - 1));
    }

    private static Set<String> names(JsonNode object) {
        Set<String> names = new TreeSet<>();
        object.forEachEntry((name, value) -> names.add(name));
        return names;
    }

    /** A compose service's environment, as a map or as a list of NAME=value. */
    private static Map<String, String> environment(JsonNode service) {
        Map<String, String> env = new LinkedHashMap<>();
        JsonNode node = service.path("environment");
        if (node.isArray()) {
            node.forEach(item -> {
                String[] parts = item.asText().split("=", 2);
                env.put(parts[0], parts.length > 1 ? parts[1] : "");
            });
        } else {
            node.forEachEntry((name, value) -> env.put(name, value.asText()));
        }
        return env;
    }

    private static JsonNode job(JsonNode scrapeConfigs, String name) {
        for (JsonNode job : scrapeConfigs) {
            if (job.path("job_name").asText().equals(name)) {
                return job;
            }
        }
        throw new AssertionError("no scrape job " + name);
    }

    private static List<Path> manifestFiles() throws IOException {
        try (Stream<Path> files = Files.list(K8S)) {
            return files.filter(f -> f.toString().endsWith(".yaml") || f.toString().endsWith(".yml")).sorted()
                    .toList();
        }
    }

    /** Every YAML document of a file (manifests may hold several, separated by ---). */
    private static List<JsonNode> documents(Path file) throws IOException {
        List<JsonNode> docs = new ArrayList<>();
        try (var values = YAML.readerFor(JsonNode.class).<JsonNode>readValues(file.toFile())) {
            while (values.hasNextValue()) {
                JsonNode doc = values.nextValue();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    docs.add(doc);
                }
            }
        }
        return docs;
    }

    private static List<JsonNode> kind(String kind) throws IOException {
        List<JsonNode> found = new ArrayList<>();
        for (Path file : manifestFiles()) {
            documents(file).stream().filter(d -> d.path("kind").asText().equals(kind)).forEach(found::add);
        }
        assertThat(found).as("a %s manifest", kind).isNotEmpty();
        return found;
    }

    private static JsonNode deployment(String name) throws IOException {
        return kind("Deployment").stream().filter(d -> d.path("metadata").path("name").asText().equals(name))
                .findFirst().orElseThrow(() -> new AssertionError("no Deployment " + name));
    }

    private static JsonNode container(JsonNode deployment) {
        JsonNode containers = deployment.path("spec").path("template").path("spec").path("containers");
        assertThat(containers.size()).isEqualTo(1);
        return containers.get(0);
    }

    private static List<String> containerEnv(JsonNode deployment) {
        return container(deployment).path("env").findValuesAsText("name");
    }

    /** A probe's path, and its port by number or by the name of a container port with that number. */
    private static void assertProbe(JsonNode container, String probe, String path, int port) {
        JsonNode get = container.path(probe).path("httpGet");
        assertThat(get.path("path").asText()).as(probe).isEqualTo(path);
        JsonNode portRef = get.path("port");
        int resolved = portRef.isInt() ? portRef.asInt() : -1;
        for (JsonNode p : container.path("ports")) {
            if (p.path("name").asText().equals(portRef.asText())) {
                resolved = p.path("containerPort").asInt();
            }
        }
        assertThat(resolved).as("%s port", probe).isEqualTo(port);
    }

    /** Prometheus names of the meters registered in the sources: "kinfer.queue.time" becomes kinfer_queue_time. */
    private static Set<String> meterNames() throws IOException {
        Pattern literal = Pattern.compile("\"(kinfer\\.[a-z]+(?:\\.[a-z]+)*)\"");
        Set<String> names = new TreeSet<>();
        for (String module : List.of("inference-worker", "gateway", "producer")) {
            try (Stream<Path> sources = Files.walk(ROOT.resolve(module).resolve("src/main/java"))) {
                for (Path source : sources.filter(f -> f.toString().endsWith(".java")).toList()) {
                    Matcher m = literal.matcher(Files.readString(source, StandardCharsets.UTF_8));
                    while (m.find()) {
                        names.add(m.group(1).replace('.', '_'));
                    }
                }
            }
        }
        return names;
    }

    /** The meter a series name belongs to, once Prometheus' unit and type suffixes are taken off. */
    private static Optional<String> meterOf(String series, Set<String> meters) {
        String name = series;
        while (!meters.contains(name)) {
            String stripped = name.replaceFirst("_(bucket|sum|count|max|total|seconds)$", "");
            if (stripped.equals(name)) {
                return Optional.empty();
            }
            name = stripped;
        }
        return Optional.of(name);
    }

    private static Optional<List<String>> composeCommand() throws InterruptedException {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "docker-compose"))) {
                return Optional.of(List.of(Path.of(dir, "docker-compose").toString()));
            }
        }
        try {
            if (run(List.of("docker", "compose", "version"), Duration.ofSeconds(20)).exitCode() == 0) {
                return Optional.of(List.of("docker", "compose"));
            }
        } catch (IOException e) {
            // no docker CLI
        }
        return Optional.empty();
    }

    private record Run(int exitCode, String output) {
    }

    private static Run run(List<String> command, Duration timeout) throws IOException, InterruptedException {
        Path log = Files.createTempFile("kinfer-compose", ".log");
        try {
            Process process = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true)
                    .redirectOutput(log.toFile()).start();
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                return new Run(-1, "timed out after " + timeout);
            }
            return new Run(process.exitValue(), Files.readString(log));
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
