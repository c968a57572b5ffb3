/**
 * Triplet margin loss (as torch.nn.functional.triplet_margin_loss with p = 2): mean over rows of
 * max(0, ‖a − p + ε‖ − ‖a − n + ε‖ + margin), ε = 1e-6. For temporal-triplet pretexts that use a margin instead of a
 * contrastive softmax.
 */
import * as tf from "@tensorflow/tfjs";

export function tripletMargin(anchor: tf.Tensor2D, positive: tf.Tensor2D, negative: tf.Tensor2D, margin = 1, eps = 1e-6): tf.Scalar {
  return tf.tidy(() => {
    const distance = (x: tf.Tensor2D, y: tf.Tensor2D) => tf.sqrt(tf.sum(tf.square(tf.add(tf.sub(x, y), eps)), 1));
    return tf.mean(tf.relu(tf.add(tf.sub(distance(anchor, positive), distance(anchor, negative)), margin))) as tf.Scalar;
  });
}
