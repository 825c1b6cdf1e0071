package io.kinfer.kafka.embedded;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives a test class a running {@link EmbeddedKafka}: one cluster per class, started before the first test and
 * closed after the last. Tests and lifecycle methods receive it as a parameter.
 *
 * <pre>{@code
 * @WithKafka
 * class RoundTripTest {
 *     @Test
 *     void roundTrip(EmbeddedKafka kafka) { ... kafka.bootstrapServers() ... }
 * }
 * }</pre>
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(KafkaExtension.class)
public @interface WithKafka {

    /** 1: a single combined node; more: one controller and this many brokers. */
    int brokers() default 1;

    /** Broker settings as {@code key=value}, applied over the defaults. */
    String[] brokerProperties() default {};
}
