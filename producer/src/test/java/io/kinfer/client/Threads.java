package io.kinfer.client;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import javax.management.MalformedObjectNameException;
import javax.management.ObjectName;

/**
 * What the client's threads are doing, seen from a test: states to wait for instead of sleeping, where a blocked
 * thread is the very thing a test is about.
 */
final class Threads {

    private Threads() {
    }

    /** Whether a thread whose name contains {@code name} waits in Kafka's send for a topic's metadata. */
    static boolean waitingInKafkaSendForMetadata(String name) {
        for (Map.Entry<Thread, StackTraceElement[]> thread : Thread.getAllStackTraces().entrySet()) {
            if (thread.getKey().getName().contains(name) && Arrays.stream(thread.getValue()).anyMatch(frame ->
                    frame.getClassName().equals("org.apache.kafka.clients.producer.KafkaProducer")
                            && frame.getMethodName().equals("waitOnMetadata"))) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code thread} is in {@link Thread#join} called straight from a method of {@code caller}. */
    static boolean joiningFrom(Thread thread, Class<?> caller) {
        List<StackTraceElement> frames = List.of(thread.getStackTrace());
        for (int i = 0; i + 1 < frames.size(); i++) {
            StackTraceElement frame = frames.get(i);
            StackTraceElement next = frames.get(i + 1);
            if (frame.getClassName().equals(Thread.class.getName()) && frame.getMethodName().equals("join")
                    && !next.getClassName().equals(Thread.class.getName())) {
                return next.getClassName().startsWith(caller.getName());
            }
        }
        return false;
    }

    /** Whether {@code thread} is in {@code type}'s {@code method} called straight from a method of {@code caller}. */
    static boolean waitingIn(Thread thread, Class<?> type, String method, Class<?> caller) {
        List<StackTraceElement> frames = List.of(thread.getStackTrace());
        for (int i = 0; i + 1 < frames.size(); i++) {
            StackTraceElement frame = frames.get(i);
            if (frame.getClassName().equals(type.getName()) && frame.getMethodName().equals(method)) {
                return frames.get(i + 1).getClassName().startsWith(caller.getName());
            }
        }
        return false;
    }

    /** Whether the Kafka consumer with this client.id is open (Kafka registers its app-info MBean until close). */
    static boolean kafkaConsumerOpen(String clientId) {
        try {
            return ManagementFactory.getPlatformMBeanServer()
                    .isRegistered(new ObjectName("kafka.consumer:type=app-info,id=" + clientId));
        } catch (MalformedObjectNameException e) {
            throw new IllegalArgumentException(e);
        }
    }
}
