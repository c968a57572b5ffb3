/**
 * Returns its input unchanged. Used to measure the cost of a worker hop (the buffers travel there and back by transfer)
 * and as the simplest kernel in the inline-vs-worker matrix.
 */
export function identity<T>(input: T): T {
  return input;
}
