package io.kinfer.protocol;

import java.util.Arrays;
import java.util.Objects;

/** A model input or output as clients see it: name, datatype, shape with -1 for a variable dimension. */
public record TensorMetadata(String name, DataType datatype, long[] shape) {

    public TensorMetadata {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(datatype, "datatype");
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorMetadata that && name.equals(that.name) && datatype == that.datatype
                && Arrays.equals(shape, that.shape);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, datatype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
        return name + ":" + datatype + Arrays.toString(shape);
    }
}
