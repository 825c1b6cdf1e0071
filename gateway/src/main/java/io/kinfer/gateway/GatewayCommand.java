package io.kinfer.gateway;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

import io.kinfer.config.ConfigOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code kinfer gateway}: runs the HTTP gateway until SIGTERM or Ctrl-C. */
@Command(name = "gateway", mixinStandardHelpOptions = true,
        description = {"Serves HTTP (POST /predict, /predict_batch, the Open Inference Protocol under /v2, /metrics) "
                + "and turns each call into Kafka requests answered by the workers.",
                "Every setting is listed in docs/CONFIGURATION.md; flags override environment variables (KINFER_*), "
                        + "which override the --config file."})
public final class GatewayCommand implements Callable<Integer> {

    /** Printed on standard output once the gateway serves, for a parent process to wait on. */
    public static final String READY_MARKER = "GATEWAY_READY ";

    @Mixin
    ConfigOptions configOptions;

    @Option(names = "--host", description = "Address to bind (gateway.host; default 127.0.0.1).")
    String host;

    @Option(names = {"-p", "--port"}, description = "HTTP port (gateway.port; default 8080; 0: any free port).")
    Integer port;

    @Option(names = "--default-model", description = "Model of /predict calls that name none (default sentiment).")
    String defaultModel;

    @Override
    public Integer call() throws Exception {
        // Each flag's option is its value's source: an error about it names --port.
        Map<String, String> flags = new LinkedHashMap<>();
        Map<String, String> options = new LinkedHashMap<>();
        ConfigOptions.putFlag(flags, options, GatewayConfig.HOST, "--host", host);
        ConfigOptions.putFlag(flags, options, GatewayConfig.PORT, "--port", port);
        ConfigOptions.putFlag(flags, options, GatewayConfig.DEFAULT_MODEL, "--default-model", defaultModel);
        GatewayServer gateway = GatewayServer.start(new GatewayConfig(configOptions.load(flags, options)));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            gateway.close();
            stopped.countDown();
        }, "kinfer-gateway-shutdown"));
        System.out.println(READY_MARKER + gateway.url());
        System.out.flush();
        stopped.await();
        return 0;
    }
}
