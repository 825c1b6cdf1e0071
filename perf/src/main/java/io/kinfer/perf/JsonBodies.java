package io.kinfer.perf;

import java.io.IOException;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;

/** Small JSON writing helper for request bodies. */
final class JsonBodies {

    private static final JsonFactory FACTORY = new JsonFactory();

    interface Writer {
        void write(JsonGenerator gen) throws IOException;
    }

    private JsonBodies() {
    }

    static byte[] json(Writer writer) throws IOException {
        try (ByteArrayBuilder out = new ByteArrayBuilder(256)) {
            try (JsonGenerator gen = FACTORY.createGenerator(out, JsonEncoding.UTF8)) {
                writer.write(gen);
            }
            return out.toByteArray();
        }
    }
}
