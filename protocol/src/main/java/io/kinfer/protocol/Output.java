package io.kinfer.protocol;

/**
 * One entry of a reply's {@code outputs}. Text models answer one entry per input text, in input order:
 * a {@link Classification} or an {@link Embedding}. Tensor models answer their named output {@link Tensor}s,
 * whose first dimension matches the request's.
 */
public sealed interface Output permits Classification, Embedding, Tensor {
}
