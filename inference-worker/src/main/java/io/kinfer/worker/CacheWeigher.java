package io.kinfer.worker;

import java.util.List;
import java.util.Map;

import com.github.benmanes.caffeine.cache.Weigher;
import io.kinfer.protocol.Classification;
import io.kinfer.protocol.Embedding;
import io.kinfer.protocol.Output;
import io.kinfer.protocol.Tensor;

/**
 * Weighs a result-cache entry by the heap bytes it holds, so that {@code cache.max.bytes} bounds memory the way
 * Triton's response cache is sized in bytes, not entries. A key of 32 texts of 10 000 characters holds 320 KB or
 * more where one short text holds about 100 bytes: counted as entries, 10 000 of the former were over 3 GB.
 *
 * <p>An estimate, not exact accounting, for a 64-bit JVM, erring high: every text at 2 bytes a character (compact
 * Latin-1 strings hold 1), references at 8 bytes (compressed ones take 4), objects and arrays with a header and
 * fields rounded up, and a fixed cost for Caffeine's node and the hash table's slot. What the key and the outputs
 * share with other objects (label names, say) is counted as if it were their own.
 */
final class CacheWeigher implements Weigher<Object, List<Output>> {

    /** Caffeine's node (key, value, weight, links) and its slot in the hash table. */
    static final long ENTRY = 96;
    /** An object's header and a few fields: a record, a boxed number. */
    static final long OBJECT = 32;
    static final long ARRAY = 16;
    static final long REFERENCE = 8;
    /** A String and the header of the array holding its characters. */
    static final long STRING = 40;
    /** A list object and the header of its array, without the references. */
    static final long LIST = 40;
    /** A map object and its table's header, without the entries. */
    static final long MAP = 64;
    /** One entry of a linked hash map, without its key and value. */
    static final long MAP_ENTRY = 48;

    @Override
    public int weigh(Object key, List<Output> outputs) {
        long bytes = ENTRY + keyBytes(key) + outputBytes(outputs);
        return (int) Math.min(Integer.MAX_VALUE, bytes);
    }

    /** A text model's key is its texts, a tensor model's its input tensors; anything else counts as an object. */
    static long keyBytes(Object key) {
        if (key instanceof String text) {
            return textBytes(text);
        }
        if (key instanceof Tensor tensor) {
            return tensorBytes(tensor);
        }
        if (key instanceof List<?> list) {
            long bytes = LIST + REFERENCE * list.size();
            for (Object element : list) {
                bytes += keyBytes(element);
            }
            return bytes;
        }
        return OBJECT;
    }

    static long outputBytes(List<Output> outputs) {
        long bytes = LIST + REFERENCE * outputs.size();
        for (Output output : outputs) {
            if (output instanceof Embedding embedding) {
                bytes += OBJECT + ARRAY + (long) Float.BYTES * embedding.vector().length;
            } else if (output instanceof Classification classification) {
                bytes += OBJECT + textBytes(classification.label()) + MAP;
                for (Map.Entry<String, Float> score : classification.scores().entrySet()) {
                    bytes += MAP_ENTRY + textBytes(score.getKey()) + OBJECT;
                }
            } else if (output instanceof Tensor tensor) {
                bytes += tensorBytes(tensor);
            }
        }
        return bytes;
    }

    static long textBytes(String text) {
        return STRING + 2L * text.length();
    }

    static long tensorBytes(Tensor tensor) {
        long bytes = OBJECT + textBytes(tensor.name()) + ARRAY + (long) Long.BYTES * tensor.shape().length;
        if (tensor.fp32() != null) {
            bytes += ARRAY + (long) Float.BYTES * tensor.fp32().length;
        }
        if (tensor.int64() != null) {
            bytes += ARRAY + (long) Long.BYTES * tensor.int64().length;
        }
        if (tensor.bytes() != null) {
            bytes += keyBytes(tensor.bytes());
        }
        return bytes;
    }
}
