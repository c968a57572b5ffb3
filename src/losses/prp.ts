/**
 * PRP's loss (Yao et al., CVPR 2020; METHODS.md §1): motion-weighted reconstruction error on the real frames of the
 * slow-motion target plus 0.1 × the playback-rate cross-entropy:
 *   L = mean_b [ Σ_{c,t,h,w} flag_t · M ⊙ (Ŷ − Y)² / Σ_{c,t,h,w} flag_t ] + λ · CE(logits, rate).
 * Tensors [B, T, H, W, C] (channel-last), flags [B, T] (1 = real frame), labels [B] (int32). The weight M may
 * have fewer frames, [B, T', H, W, C] with T' dividing T: frame k then weighs target frames k·T/T' … (k+1)·T/T' − 1
 * (DPAU's map is constant within each chunk; `motionWeight` keeps one frame per run).
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";

export interface PrpLossInput {
  reconstruction: tf.Tensor;
  target: tf.Tensor;
  weight: tf.Tensor;
  flags: tf.Tensor2D;
  logits: tf.Tensor2D;
  labels: tf.Tensor1D;
  /** Weight of the classification term (0.1 in PRP). */
  lambda?: number;
}

export interface LossTerms {
  loss: tf.Scalar;
  terms: Record<string, tf.Scalar>;
}

/** Mean of softmax cross-entropy with integer labels; labels < 0 are ignored (PyTorch's ignore_index = −1). */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[1];
    const valid = tf.cast(tf.greaterEqual(labels, 0), "float32");
    const oneHot = tf.oneHot(tf.cast(tf.maximum(labels, 0), "int32"), classes);
    const logProbs = tf.logSoftmax(logits);
    const perSample = tf.neg(tf.sum(tf.mul(oneHot, logProbs), 1));
    return tf.div(tf.sum(tf.mul(perSample, valid)), tf.maximum(tf.sum(valid), 1)) as tf.Scalar;
  });
}

export function prpLoss(input: PrpLossInput): LossTerms {
  const lambda = input.lambda ?? 0.1;
  const [b, t] = input.flags.shape;
  const [, , h, w, c] = input.target.shape as [number, number, number, number, number];
  const runs = input.weight.shape[1] as number;
  if (input.weight.rank !== 5 || t % runs !== 0) {
    throw new ClipflowError("StageError", `the motion weight has shape ${input.weight.shape.join("×")}: expected [B, T', H, W, C] with T' dividing the target's ${t} frames`, { stage: "train", field: "views.motion" });
  }
  // each weight frame covers t / runs consecutive target frames (broadcast along the run; one frame each when equal)
  const shape = [b, runs, t / runs, h, w, c];
  const error = tf.squaredDifference(input.reconstruction, input.target).reshape(shape);
  const squared = tf.mul(input.weight.reshape([b, runs, 1, h, w, c]), error);
  const perSample = tf.sum(tf.mul(squared, input.flags.reshape([b, runs, t / runs, 1, 1, 1])), [1, 2, 3, 4, 5]);
  const counts = tf.mul(tf.sum(input.flags, 1), h * w * c);
  const reconstruction = tf.mean(tf.div(perSample, counts)) as tf.Scalar;
  const classification = crossEntropy(input.logits, input.labels);
  const loss = tf.add(reconstruction, tf.mul(classification, lambda)) as tf.Scalar;
  return { loss, terms: { reconstruction, classification } };
}
