package io.kinfer.protocol;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A named tensor in row-major order, as in the Open Inference Protocol: {@code shape} gives the dimensions and
 * exactly one of the data arrays, chosen by {@code datatype}, holds the elements. The arrays are not copied:
 * treat them as read-only once handed over.
 */
public record Tensor(String name, DataType datatype, long[] shape, float[] fp32, long[] int64, List<String> bytes)
        implements Output {

    public Tensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(datatype, "datatype");
        Objects.requireNonNull(shape, "shape");
        long expected = elementCount(shape);
        long actual = switch (datatype) {
            case FP32 -> Objects.requireNonNull(fp32, "fp32").length;
            case INT64 -> Objects.requireNonNull(int64, "int64").length;
            case BYTES -> Objects.requireNonNull(bytes, "bytes").size();
        };
        if (expected != actual) {
            throw new IllegalArgumentException("tensor " + name + ": shape " + Arrays.toString(shape) + " holds "
                    + expected + " elements, data has " + actual);
        }
    }

    public static Tensor fp32(String name, long[] shape, float[] data) {
        return new Tensor(name, DataType.FP32, shape, data, null, null);
    }

    public static Tensor int64(String name, long[] shape, long[] data) {
        return new Tensor(name, DataType.INT64, shape, null, data, null);
    }

    public static Tensor bytes(String name, long[] shape, List<String> data) {
        return new Tensor(name, DataType.BYTES, shape, null, null, List.copyOf(data));
    }

    /** The product of the dimensions; -1 if a dimension is negative. */
    public static long elementCount(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            if (dim < 0) {
                return -1;
            }
            count = Math.multiplyExact(count, dim);
        }
        return count;
    }

    public long elementCount() {
        return elementCount(shape);
    }

    /** The first dimension: how many items this tensor holds when it is batched. */
    public long batchSize() {
        return shape.length == 0 ? 1 : shape[0];
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Tensor that
                && name.equals(that.name)
                && datatype == that.datatype
                && Arrays.equals(shape, that.shape)
                && Arrays.equals(fp32, that.fp32)
                && Arrays.equals(int64, that.int64)
                && Objects.equals(bytes, that.bytes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, datatype, Arrays.hashCode(shape), Arrays.hashCode(fp32), Arrays.hashCode(int64),
                bytes);
    }

    @Override
    public String toString() {
        return "Tensor[" + name + " " + datatype + " " + Arrays.toString(shape) + "]";
    }
}
