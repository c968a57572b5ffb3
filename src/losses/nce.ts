/**
 * Contrastive losses with a queue of negatives (MoCo-style InfoNCE as VTDL and CoCLR use it; METHODS.md §2–3).
 * q, k: [B, D] L2-normalised; queue: [K, D]. logits = [q·k, q·queue_1..K (, q·n)] / τ, cross-entropy with target 0.
 * VTDL's variant appends q·n for an extra negative n = f_q(negative clip), with gradient.
 */
import * as tf from "@tensorflow/tfjs";
import { crossEntropy, type LossTerms } from "./prp.ts";

export interface InfoNceInput {
  query: tf.Tensor2D;
  key: tf.Tensor2D;
  queue: tf.Tensor2D;
  /** Extra per-sample negative (VTDL), same shape as query. */
  negative?: tf.Tensor2D;
  temperature?: number;
}

export function infoNceLogits(input: InfoNceInput): tf.Tensor2D {
  const tau = input.temperature ?? 0.07;
  const positive = tf.sum(tf.mul(input.query, input.key), 1, true);
  const parts: tf.Tensor[] = [positive, tf.matMul(input.query, input.queue, false, true)];
  if (input.negative !== undefined) parts.push(tf.sum(tf.mul(input.query, input.negative), 1, true));
  return tf.div(tf.concat(parts, 1), tau) as tf.Tensor2D;
}

export function infoNce(input: InfoNceInput): LossTerms {
  const logits = infoNceLogits(input);
  const labels = tf.zeros([logits.shape[0]], "int32") as tf.Tensor1D;
  const loss = crossEntropy(logits, labels);
  const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(logits, 1), 0), "float32")) as tf.Scalar;
  return { loss, terms: { nce: loss, accuracy } };
}
