package io.kinfer.kafka.embedded;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/** The JUnit Jupiter extension behind {@link WithKafka}. */
public final class KafkaExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {

    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(KafkaExtension.class);
    private static final String KEY = "kafka";

    @Override
    public void beforeAll(ExtensionContext context) {
        if (context.getStore(NAMESPACE).get(KEY, EmbeddedKafka.class) != null) {
            return; // a @Nested class shares its enclosing class's cluster
        }
        WithKafka settings = AnnotationSupport.findAnnotation(context.getRequiredTestClass(), WithKafka.class)
                .orElseThrow(() -> new IllegalStateException("KafkaExtension needs @WithKafka on the test class"));
        EmbeddedKafka.Builder builder = EmbeddedKafka.builder().brokers(settings.brokers());
        for (String property : settings.brokerProperties()) {
            int eq = property.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("broker property must be key=value: " + property);
            }
            builder.brokerProperty(property.substring(0, eq).trim(), property.substring(eq + 1).trim());
        }
        context.getStore(NAMESPACE).put(KEY, builder.start());
    }

    @Override
    public void afterAll(ExtensionContext context) {
        EmbeddedKafka kafka = context.getStore(NAMESPACE).remove(KEY, EmbeddedKafka.class);
        if (kafka != null) {
            kafka.close();
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return parameterContext.getParameter().getType() == EmbeddedKafka.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        EmbeddedKafka kafka = extensionContext.getStore(NAMESPACE).get(KEY, EmbeddedKafka.class);
        if (kafka == null) {
            throw new ParameterResolutionException("no embedded Kafka is running for this test class");
        }
        return kafka;
    }
}
