package io.kinfer.gateway;

import static io.kinfer.gateway.PipelineTestSupport.get;
import static io.kinfer.gateway.PipelineTestSupport.post;
import static io.kinfer.gateway.PipelineTestSupport.settings;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import com.fasterxml.jackson.databind.JsonNode;
import io.kinfer.config.LatencyBuckets;
import io.kinfer.kafka.embedded.EmbeddedKafka;
import io.kinfer.kafka.embedded.WithKafka;
import io.kinfer.protocol.Topics;
import io.kinfer.worker.InferenceWorker;
import io.kinfer.worker.WorkerConfig;
import io.kinfer.worker.testing.OnnxModels;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every endpoint with valid input, and each error status, against a real worker and a real broker. */
@WithKafka
class GatewayApiTest {

    private static final int WORKER_MAX_TEXT_CHARS = 200;

    private static InferenceWorker worker;
    private static GatewayServer gateway;
    private static String url;

    @BeforeAll
    static void start(EmbeddedKafka kafka) throws Exception {
        Path repo = Files.createTempDirectory("repo");
        OnnxModels.writeVersion(repo, "gemm", "1", OnnxModels.gemm(2, 3), null, null);
        // Texts up to 200 characters at the worker, 10 000 at the gateway: a text between the two is one only the
        // worker refuses, as a worker configured stricter than its gateways does.
        worker = InferenceWorker.start(new WorkerConfig(settings(kafka, WorkerConfig.MODELS, "sentiment,gemm",
                WorkerConfig.MODEL_REPOSITORY, repo, WorkerConfig.METRICS_PORT, -1, WorkerConfig.TOPICS_PARTITIONS, 2,
                WorkerConfig.ONNX_INTRA_OP_THREADS, 1, WorkerConfig.MAX_TEXT_CHARS, WORKER_MAX_TEXT_CHARS)));
        gateway = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0,
                GatewayConfig.BODY_LIMIT_BYTES, 4096)));
        url = gateway.url();
        await().atMost(Duration.ofSeconds(30)).until(() -> gateway.catalog().ready("sentiment", null)
                && gateway.catalog().ready("gemm", null) && worker.ready());
    }

    @AfterAll
    static void stop() {
        gateway.close();
        worker.close();
    }

    @Test
    void predictBatchKeepsTheInputOrder() throws Exception {
        var response = post(url + "/predict_batch", "{\"texts\":[\"I love it, wonderful\",\"Broken on arrival, "
                + "awful\",\"Fantastic quality\",\"Worst purchase ever\"]}");

        assertThat(response.status()).isEqualTo(200);
        JsonNode predictions = response.body().get("predictions");
        assertThat(predictions).hasSize(4);
        assertThat(predictions.get(0).get("label").asText()).isEqualTo("positive");
        assertThat(predictions.get(1).get("label").asText()).isEqualTo("negative");
        assertThat(predictions.get(2).get("label").asText()).isEqualTo("positive");
        assertThat(predictions.get(3).get("label").asText()).isEqualTo("negative");
        assertThat(predictions.get(0).get("timings").get("batch_size").asInt()).isPositive();
    }

    @Test
    void openInferenceProtocolHealthAndMetadata() throws Exception {
        assertThat(get(url + "/v2/health/live").status()).isEqualTo(200);
        assertThat(get(url + "/v2/health/ready").body().get("ready").asBoolean()).isTrue();
        var server = get(url + "/v2");
        assertThat(server.body().get("name").asText()).isEqualTo("kinfer");
        assertThat(server.body().has("extensions")).isTrue();

        var metadata = get(url + "/v2/models/gemm");
        assertThat(metadata.status()).isEqualTo(200);
        assertThat(metadata.body().get("name").asText()).isEqualTo("gemm");
        assertThat(metadata.body().get("versions").get(0).asText()).isEqualTo("1");
        assertThat(metadata.body().get("platform").asText()).isEqualTo("onnxruntime_onnx");
        assertThat(metadata.body().get("inputs").get(0).toString())
                .isEqualTo("{\"name\":\"x\",\"datatype\":\"FP32\",\"shape\":[-1,2]}");
        assertThat(get(url + "/v2/models/gemm/versions/1").status()).isEqualTo(200);
        assertThat(get(url + "/v2/models/gemm/ready").body().get("ready").asBoolean()).isTrue();
        assertThat(get(url + "/v2/models/gemm/versions/1/ready").status()).isEqualTo(200);
        assertThat(get(url + "/v2/models/gemm/versions/7").status()).isEqualTo(404);
        assertThat(get(url + "/v2/models/nope").body().get("error").asText()).contains("unknown model");
    }

    /** Triton's model configuration extension, as tritonclient's get_model_config and perf_analyzer read it. */
    @Test
    void tritonsModelConfigurationDescribesTheBatchAsTritonDoes() throws Exception {
        assertThat(get(url + "/v2").body().get("extensions").toString()).contains("\"model_configuration\"");
        int max = gateway.catalog().metadata("gemm", null).orElseThrow().maxBatchSize();

        var gemm = get(url + "/v2/models/gemm/config");

        assertThat(gemm.status()).isEqualTo(200);
        assertThat(gemm.body().get("name").asText()).isEqualTo("gemm");
        assertThat(gemm.body().get("max_batch_size").asInt()).isEqualTo(max).isPositive();
        // The batch dimension is left out of dims, as Triton does when max_batch_size > 0: x is [-1, 2].
        assertThat(gemm.body().get("input").toString())
                .isEqualTo("[{\"name\":\"x\",\"data_type\":\"TYPE_FP32\",\"dims\":[2]}]");
        assertThat(gemm.body().get("output").toString())
                .isEqualTo("[{\"name\":\"y\",\"data_type\":\"TYPE_FP32\",\"dims\":[3]}]");
        assertThat(get(url + "/v2/models/gemm/versions/1/config").body()).isEqualTo(gemm.body());

        var sentiment = get(url + "/v2/models/sentiment/config");
        assertThat(sentiment.body().get("max_batch_size").asInt()).as("texts batch one by one").isZero();
        assertThat(sentiment.body().get("input").toString())
                .isEqualTo("[{\"name\":\"text\",\"data_type\":\"TYPE_STRING\",\"dims\":[-1]}]");
        assertThat(get(url + "/v2/models/nope/config").status()).isEqualTo(404);
        assertThat(get(url + "/v2/models/gemm/versions/7/config").status()).isEqualTo(404);
    }

    @Test
    void openInferenceProtocolInferWithTheSpecsRequestShape() throws Exception {
        // The specification's example request, with FP32 data for this model (the example's UINT32/BOOL inputs
        // are not types this model takes); nested data and a requested output as the spec allows.
        String body = """
                {
                  "id" : "42",
                  "inputs" : [
                    {
                      "name" : "x",
                      "shape" : [ 2, 2 ],
                      "datatype" : "FP32",
                      "data" : [ [1, 2], [3, 4] ]
                    }
                  ],
                  "outputs" : [
                    {
                      "name" : "y"
                    }
                  ]
                }
                """;

        var response = post(url + "/v2/models/gemm/infer", body, "Content-Type", "application/json");

        assertThat(response.status()).isEqualTo(200);
        assertThat(response.body().get("id").asText()).isEqualTo("42");
        assertThat(response.body().get("model_name").asText()).isEqualTo("gemm");
        assertThat(response.body().get("model_version").asText()).isEqualTo("1");
        JsonNode y = response.body().get("outputs").get(0);
        assertThat(y.get("name").asText()).isEqualTo("y");
        assertThat(y.get("datatype").asText()).isEqualTo("FP32");
        assertThat(y.get("shape").toString()).isEqualTo("[2,3]");
        float[] expected = OnnxModels.gemmExpected(new float[] {1, 2}, 3);
        assertThat((float) y.get("data").get(2).asDouble()).isCloseTo(expected[2], within(1e-4f));
    }

    @Test
    void openInferenceProtocolTextsAsBytesTensor() throws Exception {
        var response = post(url + "/v2/models/sentiment/infer",
                "{\"inputs\":[{\"name\":\"text\",\"shape\":[2],\"datatype\":\"BYTES\",\"data\":[\"I love this product\","
                        + "\"This is terrible\"]}]}");

        assertThat(response.status()).isEqualTo(200);
        JsonNode outputs = response.body().get("outputs");
        assertThat(outputs.get(0).get("name").asText()).isEqualTo("label");
        assertThat(outputs.get(0).get("data").toString()).isEqualTo("[\"positive\",\"negative\"]");
        assertThat(outputs.get(1).get("shape").toString()).isEqualTo("[2,2]");
        assertThat(response.body().get("id").asText()).isNotBlank();
    }

    @Test
    void openInferenceProtocolTextsNumberFromOneToTheInputLimit() throws Exception {
        // An empty BYTES tensor once left the call unanswered (the success handler threw on no replies).
        var empty = post(url + "/v2/models/sentiment/infer",
                "{\"inputs\":[{\"name\":\"text\",\"shape\":[0],\"datatype\":\"BYTES\",\"data\":[]}]}");
        assertThat(empty.status()).isEqualTo(400);
        assertThat(empty.body().get("code").asText()).isEqualTo("empty_input");

        // /predict_batch's bound (256 by default) holds here too: each text is a request of its own.
        String texts = IntStream.range(0, 1000).mapToObj(i -> "\"t" + i + "\"").collect(Collectors.joining(","));
        var tooMany = post(url + "/v2/models/sentiment/infer", "{\"inputs\":[{\"name\":\"text\",\"shape\":[1000],"
                + "\"datatype\":\"BYTES\",\"data\":[" + texts + "]}]}");
        assertThat(tooMany.status()).isEqualTo(413);
        assertThat(tooMany.body().get("code").asText()).isEqualTo("input_too_large");
    }

    @Test
    void theSpecsUnsupportedTypesAndBinaryDataGetClearErrors() throws Exception {
        var uint32 = post(url + "/v2/models/gemm/infer", "{\"id\":\"42\",\"inputs\":[{\"name\":\"input0\",\"shape\":[2,2],"
                + "\"datatype\":\"UINT32\",\"data\":[1,2,3,4]}]}");
        assertThat(uint32.status()).isEqualTo(400);
        assertThat(uint32.body().get("error").asText()).contains("UINT32").contains("FP32");

        var binary = post(url + "/v2/models/gemm/infer", "{}", "Inference-Header-Content-Length", "2");
        assertThat(binary.status()).isEqualTo(400);
        assertThat(binary.body().get("error").asText()).contains("binary");

        var unknownOutput = post(url + "/v2/models/gemm/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],"
                + "\"datatype\":\"FP32\",\"data\":[1,2]}],\"outputs\":[{\"name\":\"DUMMY\"}]}");
        assertThat(unknownOutput.status()).isEqualTo(400);
        assertThat(unknownOutput.body().get("error").asText()).contains("unexpected inference output 'DUMMY'");

        var wrongShape = post(url + "/v2/models/gemm/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],"
                + "\"datatype\":\"FP32\",\"data\":[1,2,3]}]}");
        assertThat(wrongShape.status()).isEqualTo(400);
        assertThat(wrongShape.body().get("code").asText()).isEqualTo("invalid_tensor");
    }

    @Test
    void errorStatusesSayWhatIsWrong() throws Exception {
        var malformed = post(url + "/predict", "{\"text\":");
        assertThat(malformed.status()).isEqualTo(400);
        assertThat(malformed.body().get("code").asText()).isEqualTo("malformed");

        var wrongField = post(url + "/predict", "{\"text\":42}");
        assertThat(wrongField.status()).isEqualTo(400);
        assertThat(wrongField.body().get("error").asText()).contains("'text' must be a string");

        var empty = post(url + "/predict", "{\"text\":\"   \"}");
        assertThat(empty.status()).isEqualTo(400);

        var unknown = post(url + "/predict", "{\"text\":\"hi\",\"model\":\"nope\"}");
        assertThat(unknown.status()).isEqualTo(404);

        var tooBig = post(url + "/predict", "{\"text\":\"" + "x".repeat(5000) + "\"}");
        assertThat(tooBig.status()).isEqualTo(413);

        var tensorModel = post(url + "/predict", "{\"text\":\"hi\",\"model\":\"gemm\"}");
        assertThat(tensorModel.status()).isEqualTo(400);
        assertThat(tensorModel.body().get("error").asText()).contains("/v2/models/gemm/infer");

        var deadline = post(url + "/predict", "{\"text\":\"I love it\"}", Inference.TIMEOUT_HEADER, "1");
        assertThat(deadline.status()).isEqualTo(504);
        assertThat(deadline.body().get("code").asText()).isEqualTo("deadline_exceeded");

        var badTimeout = post(url + "/predict", "{\"text\":\"I love it\"}", Inference.TIMEOUT_HEADER, "soon");
        assertThat(badTimeout.status()).isEqualTo(400);

        var noRoute = get(url + "/nope");
        assertThat(noRoute.status()).isEqualTo(404);
        for (var response : new PipelineTestSupport.Response[] {malformed, wrongField, unknown, tooBig, deadline}) {
            assertThat(response.raw().body()).doesNotContain("Exception").doesNotContain("\tat ");
        }
    }

    @Test
    void aTensorTheModelCannotTakeIsRefusedBeforeItReachesKafka(EmbeddedKafka kafka) throws Exception {
        long sent = requestsSentTo(kafka, "gemm");
        Map<String, String> refused = Map.of(
                "a fixed dimension of another size", "[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\","
                        + "\"data\":[1,2,3]}]",
                "another rank", "[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1,2]}]",
                "another datatype", "[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"INT64\",\"data\":[1,2]}]",
                "an input the model lacks", "[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\","
                        + "\"data\":[1,2]},{\"name\":\"z\",\"shape\":[1,1],\"datatype\":\"FP32\",\"data\":[1]}]",
                "a missing input", "[{\"name\":\"w\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]",
                "no rows", "[{\"name\":\"x\",\"shape\":[0,2],\"datatype\":\"FP32\",\"data\":[]}]",
                "a scalar", "[{\"name\":\"x\",\"shape\":[],\"datatype\":\"FP32\",\"data\":[1]}]");
        for (Map.Entry<String, String> inputs : refused.entrySet()) {
            var response = post(url + "/v2/models/gemm/infer", "{\"inputs\":" + inputs.getValue() + "}");

            assertThat(response.status()).as(inputs.getKey()).isEqualTo(400);
            assertThat(response.body().get("code").asText()).as(inputs.getKey()).isIn("invalid_tensor", "empty_input");
        }
        var tooManyRows = post(url + "/v2/models/gemm/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[300,2],"
                + "\"datatype\":\"FP32\",\"data\":[" + "1,".repeat(599) + "1]}]}");
        assertThat(tooManyRows.status()).isEqualTo(413);

        assertThat(requestsSentTo(kafka, "gemm")).as("requests written to the model's topic").isEqualTo(sent);
        assertThat(post(url + "/v2/models/gemm/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],"
                + "\"datatype\":\"FP32\",\"data\":[1,2]}]}").status()).isEqualTo(200);
        assertThat(requestsSentTo(kafka, "gemm")).isEqualTo(sent + 1);
    }

    @Test
    void rowsBeyondTheModelsMaxBatchSizeAre413BeforeReachingKafka(EmbeddedKafka kafka) throws Exception {
        int max = gateway.catalog().metadata("gemm", null).orElseThrow().maxBatchSize();
        assertThat(max).as("the max_batch_size the worker announced").isPositive();
        long sent = requestsSentTo(kafka, "gemm");

        var tooMany = post(url + "/v2/models/gemm/infer", gemmRows(max + 1));

        assertThat(tooMany.status()).isEqualTo(413);
        assertThat(tooMany.body().get("code").asText()).isEqualTo("input_too_large");
        assertThat(tooMany.body().get("error").asText())
                .isEqualTo("the request has " + (max + 1) + " rows; model gemm takes at most " + max + " per call");
        assertThat(requestsSentTo(kafka, "gemm")).as("requests written to the model's topic").isEqualTo(sent);
        var most = post(url + "/v2/models/gemm/infer", gemmRows(max));
        assertThat(most.status()).isEqualTo(200);
        assertThat(most.body().get("outputs").get(0).get("shape").toString()).isEqualTo("[" + max + ",3]");
    }

    /**
     * The gateway's own limits are the protocol settings the workers read: protocol.max.text.chars was ignored
     * (10 000 whatever the setting), and gateway.max.batch.texts, a bound on a call's texts, also capped a tensor's
     * rows in place of protocol.max.inputs.
     */
    @Test
    void theGatewayChecksInputsWithTheProtocolSettingsTheWorkersRead(EmbeddedKafka kafka) throws Exception {
        try (GatewayServer limited = GatewayServer.start(new GatewayConfig(settings(kafka, GatewayConfig.PORT, 0,
                GatewayConfig.MAX_BATCH_TEXTS, 2, GatewayConfig.MAX_INPUTS, 4, GatewayConfig.MAX_TEXT_CHARS, 20_000)))) {
            String at = limited.url();
            await().atMost(Duration.ofSeconds(30)).until(() -> limited.catalog().ready("gemm", null)
                    && limited.catalog().ready("sentiment", null));

            assertThat(post(at + "/v2/models/gemm/infer", gemmRows(3)).status())
                    .as("3 rows: more than gateway.max.batch.texts, within protocol.max.inputs").isEqualTo(200);
            var rows = post(at + "/v2/models/gemm/infer", gemmRows(5));
            assertThat(rows.status()).isEqualTo(413);
            assertThat(rows.body().get("error").asText()).isEqualTo("first dimension 5; at most 4 rows per request");
            var texts = post(at + "/predict_batch", "{\"texts\":[\"a\",\"b\",\"c\"]}");
            assertThat(texts.status()).isEqualTo(413);
            assertThat(texts.body().get("error").asText()).isEqualTo("3 texts in field 'texts'; at most 2 per call");

            // 15 000 characters pass this gateway (20 000); the worker (200) is the one that refuses them.
            var text = post(at + "/predict", "{\"text\":\"" + "z".repeat(15_000) + "\"}");
            assertThat(text.status()).isEqualTo(413);
            assertThat(text.body().get("error").asText())
                    .isEqualTo("field 'text' has 15000 characters; at most " + WORKER_MAX_TEXT_CHARS);
        }
    }

    /**
     * The specification's parameters are objects; a string there is a client's mistake, not something to ignore.
     * Triton's classification extension (an output's parameters.classification) would answer strings of another
     * meaning than the tensor kinfer has: refused, not silently answered with the raw tensor.
     */
    @Test
    void parametersThatAreNotObjectsAndTritonsClassificationAre400() throws Exception {
        String tensor = "{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]";
        Map<String, String> refused = Map.of(
                "field 'parameters' must be an object", "{\"parameters\":\"x\",\"inputs\":[" + tensor + "}]}",
                "inputs[0].parameters must be an object", "{\"inputs\":[" + tensor + ",\"parameters\":[1]}]}",
                "output 'y' parameters must be an object",
                "{\"inputs\":[" + tensor + "}],\"outputs\":[{\"name\":\"y\",\"parameters\":7}]}",
                "output 'y' asks for classification",
                "{\"inputs\":[" + tensor + "}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"classification\":2}}]}");
        for (Map.Entry<String, String> body : refused.entrySet()) {
            var response = post(url + "/v2/models/gemm/infer", body.getValue());

            assertThat(response.status()).as(body.getKey()).isEqualTo(400);
            assertThat(response.body().get("error").asText()).as(body.getKey()).startsWith(body.getKey());
        }
        var fine = post(url + "/v2/models/gemm/infer", "{\"parameters\":{\"timeout_ms\":5000},\"inputs\":[" + tensor
                + ",\"parameters\":{}}],\"outputs\":[{\"name\":\"y\",\"parameters\":{\"binary_data\":false}}]}");
        assertThat(fine.status()).isEqualTo(200);
    }

    /** An OIP request for gemm with {@code rows} rows of two numbers. */
    private static String gemmRows(int rows) {
        return "{\"inputs\":[{\"name\":\"x\",\"shape\":[" + rows + ",2],\"datatype\":\"FP32\",\"data\":["
                + IntStream.range(0, rows * 2).mapToObj(Integer::toString).collect(Collectors.joining(",")) + "]}]}";
    }

    @Test
    void textsBlankToTheTokenizerAreRefusedBeforeReachingKafka(EmbeddedKafka kafka) throws Exception {
        long sent = requestsSentTo(kafka, "sentiment");
        // A no-break space, a zero-width space, NUL, a byte-order mark: String.isBlank() passes each.
        for (String blank : new String[] {"\\u00a0", "\\u200b", "\\u0000", " \\ufeff "}) {
            var predict = post(url + "/predict", "{\"text\":\"" + blank + "\"}");
            var batch = post(url + "/predict_batch", "{\"texts\":[\"fine\",\"" + blank + "\"]}");
            var oip = post(url + "/v2/models/sentiment/infer", "{\"inputs\":[{\"name\":\"text\",\"shape\":[2],"
                    + "\"datatype\":\"BYTES\",\"data\":[\"fine\",\"" + blank + "\"]}]}");

            for (var response : List.of(predict, batch, oip)) {
                assertThat(response.status()).as(blank).isEqualTo(400);
                assertThat(response.body().get("code").asText()).as(blank).isEqualTo("empty_input");
            }
            assertThat(batch.body().get("error").asText()).startsWith("texts[1] is empty");
            assertThat(oip.body().get("error").asText()).startsWith("text[1] is empty");
        }
        assertThat(requestsSentTo(kafka, "sentiment")).as("requests written to the model's topic").isEqualTo(sent);
    }

    @Test
    void aWorkersErrorForOneTextNamesItAsTheCallerSentIt() throws Exception {
        String tooLong = "y".repeat(WORKER_MAX_TEXT_CHARS + 1);

        var batch = post(url + "/predict_batch", "{\"texts\":[\"fine\",\"good\",\"" + tooLong + "\"]}");
        var oip = post(url + "/v2/models/sentiment/infer", "{\"inputs\":[{\"name\":\"review\",\"shape\":[2],"
                + "\"datatype\":\"BYTES\",\"data\":[\"fine\",\"" + tooLong + "\"]}]}");
        var predict = post(url + "/predict", "{\"text\":\"" + tooLong + "\"}");

        String rest = " has " + tooLong.length() + " characters; at most " + WORKER_MAX_TEXT_CHARS;
        assertThat(batch.status()).isEqualTo(413);
        assertThat(batch.body().get("code").asText()).isEqualTo("input_too_large");
        assertThat(batch.body().get("error").asText()).isEqualTo("texts[2]" + rest);
        assertThat(oip.status()).isEqualTo(413);
        assertThat(oip.body().get("error").asText()).isEqualTo("review[1]" + rest);
        assertThat(predict.status()).isEqualTo(413);
        assertThat(predict.body().get("error").asText()).isEqualTo("field 'text'" + rest);
    }

    @Test
    void anyOipIdIsEchoed() throws Exception {
        for (String id : new String[] {"", "i".repeat(300)}) {
            var tensor = post(url + "/v2/models/gemm/infer", "{\"id\":\"" + id + "\",\"inputs\":[{\"name\":\"x\","
                    + "\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}");
            var text = post(url + "/v2/models/sentiment/infer", "{\"id\":\"" + id + "\",\"inputs\":[{\"name\":"
                    + "\"text\",\"shape\":[1],\"datatype\":\"BYTES\",\"data\":[\"I love it\"]}]}");

            for (var response : List.of(tensor, text)) {
                assertThat(response.status()).as("id of %d characters", id.length()).isEqualTo(200);
                assertThat(response.body().get("id").asText()).isEqualTo(id);
            }
        }
    }

    @Test
    void aJsonInferBodyIsJsonWhateverItsContentType() throws Exception {
        // Triton tells binary tensor data by the Inference-Header-Content-Length header alone.
        var response = post(url + "/v2/models/gemm/infer", "{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],"
                + "\"datatype\":\"FP32\",\"data\":[1,2]}]}", "Content-Type", "application/octet-stream");

        assertThat(response.status()).isEqualTo(200);
        assertThat(response.body().get("outputs").get(0).get("shape").toString()).isEqualTo("[1,3]");
    }

    /** The end offsets of the model's request topic, summed: every request any gateway sent it. */
    private static long requestsSentTo(EmbeddedKafka kafka, String model) throws Exception {
        try (Admin admin = kafka.admin()) {
            String topic = Topics.requestTopic(model);
            int partitions = admin.describeTopics(java.util.List.of(topic)).allTopicNames().get()
                    .get(topic).partitions().size();
            Map<TopicPartition, OffsetSpec> latest = IntStream.range(0, partitions).boxed()
                    .collect(Collectors.toMap(p -> new TopicPartition(topic, p), p -> OffsetSpec.latest()));
            return admin.listOffsets(latest).all().get().values().stream().mapToLong(o -> o.offset()).sum();
        }
    }

    @Test
    void errorsThrownInHandlersAreCountedUnderTheirRoute() throws Exception {
        long unmatched = PipelineTestSupport.httpRequests(gateway, "route", "unmatched", "status", "404");
        assertThat(post(url + "/predict", "{\"text\":").status()).isEqualTo(400);
        assertThat(get(url + "/v2/models/nope").status()).isEqualTo(404);
        assertThat(get(url + "/nope/nothing").status()).isEqualTo(404);
        assertThat(post(url + "/v2/models/gemm/infer", "{\"inputs\":[]}").status()).isEqualTo(400);

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            assertThat(PipelineTestSupport.httpRequests(gateway, "route", "/predict", "status", "400")).isPositive();
            assertThat(PipelineTestSupport.httpRequests(gateway, "route", "/v2/models/:model", "status", "404"))
                    .isPositive();
            assertThat(PipelineTestSupport.httpRequests(gateway, "route", "/v2/models/:model/infer", "status", "400"))
                    .isPositive();
            // Only the path no route has; the unknown model was counted under its route.
            assertThat(PipelineTestSupport.httpRequests(gateway, "route", "unmatched", "status", "404"))
                    .isEqualTo(unmatched + 1);
        });
    }

    @Test
    void metricsCountHttpRequestsByRouteAndStatus() throws Exception {
        post(url + "/predict", "{\"text\":\"Great\"}");
        post(url + "/predict", "{\"text\":\"hi\",\"model\":\"nope\"}");

        String metrics = get(url + "/metrics").raw().body();

        assertThat(metrics).contains("kinfer_http_requests_seconds_count{method=\"POST\",route=\"/predict\",status=\"200\"")
                .contains("status=\"404\"")
                .contains("kinfer_client_inflight")
                .contains("kinfer_client_latency_seconds_bucket");
        // Kafka's own metrics of the client's producer and reply consumer, and the process's start time.
        assertThat(metrics.lines()).anyMatch(line -> line.startsWith("kafka_producer_connection_count{"))
                .anyMatch(line -> line.startsWith("kafka_consumer_connection_count{"))
                .anyMatch(line -> line.startsWith("process_start_time_seconds"));
        // The fixed, shared buckets (plus +Inf), not Micrometer's 73 of a percentile histogram per series.
        int buckets = LatencyBuckets.bounds().length + 1;
        assertThat(metrics.lines().filter(line -> line.startsWith("kinfer_http_requests_seconds_bucket{")
                && line.contains("route=\"/predict\"") && line.contains("status=\"200\""))).hasSize(buckets)
                .anyMatch(line -> line.contains("le=\"0.005\""));
        assertThat(metrics.lines().filter(line -> line.startsWith("kinfer_client_latency_seconds_bucket{")))
                .hasSize(buckets);
    }
}
