/**
 * CoCLR's losses (Han, Xie, Zisserman 2020; METHODS.md §3), on logits [B, 1 + K] = [q·k⁺, q·Q_1..K] / τ:
 * - positive mining: P = {0} ∪ siblings ∪ top-K (K = 5) of the frozen sampler's similarity g(q)·Q₂ over the second
 *   queue, siblings excluded from the top-K candidates; rows flagged in `dropSelf` (drawn with probability 0.9 per
 *   iteration by the caller) lose the self-positive 0 when they have any mined positive;
 * - multi-positive NCE: −log Σ_{j∈P} p_j, mean over rows;
 * - UberNCE (supervised oracle): −(1/|P|) Σ_{j∈P} log p_j with P = {0} ∪ same-label queue entries.
 * Masks are float 0/1 tensors [B, 1 + K].
 */
import * as tf from "@tensorflow/tfjs";

export interface MiningInput {
  /** Sampler (other modality, frozen) embeddings of this batch's keys, [B, D]. */
  samplerKeys: tf.Tensor2D;
  /** Second queue: sampler embeddings aligned with the main queue, [K, D]. */
  samplerQueue: tf.Tensor2D;
  topK: number;
  /** 1 where queue entry j is a sibling of row i (same source video group), [B, K]; optional. */
  siblings?: tf.Tensor2D;
  /** Per row: drop the self-positive if the row has any mined positive. */
  dropSelf: boolean[];
}

export function minePositives(input: MiningInput): tf.Tensor2D {
  return tf.tidy(() => {
    const [b] = input.samplerKeys.shape;
    const k = input.samplerQueue.shape[0];
    const similarity = tf.matMul(input.samplerKeys, input.samplerQueue, false, true);
    const candidates = input.siblings === undefined ? similarity : tf.where(tf.greater(input.siblings, 0), tf.fill([b, k], -Infinity), similarity);
    const { indices } = tf.topk(candidates, Math.min(input.topK, k));
    const mined = tf.minimum(tf.sum(tf.oneHot(indices, k), 1), 1);
    const queuePositives = input.siblings === undefined ? mined : tf.minimum(tf.add(mined, input.siblings), 1);
    const hasMined = tf.cast(tf.greater(tf.sum(queuePositives, 1, true), 0), "float32");
    const drop = tf.tensor2d(input.dropSelf.map((d) => (d ? 1 : 0)), [b, 1]);
    const self = tf.sub(1, tf.mul(drop, hasMined));
    return tf.concat([self, queuePositives], 1) as tf.Tensor2D;
  });
}

/** −log Σ_{j∈P} softmax(logits)_j, mean over rows. */
export function multiPositiveNce(logits: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const masked = tf.where(tf.greater(mask, 0), logProbs, tf.fill(logits.shape, -Infinity));
    return tf.neg(tf.mean(tf.logSumExp(masked, 1))) as tf.Scalar;
  });
}

/** −(1/|P|) Σ_{j∈P} log softmax(logits)_j, mean over rows. */
export function uberNce(logits: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const logProbs = tf.logSoftmax(logits);
    const perRow = tf.div(tf.sum(tf.mul(logProbs, mask), 1), tf.maximum(tf.sum(mask, 1), 1));
    return tf.neg(tf.mean(perRow)) as tf.Scalar;
  });
}

/** UberNCE's positives: {0} ∪ queue entries whose label equals the row's label. */
export function labelPositives(labels: tf.Tensor1D, queueLabels: tf.Tensor1D): tf.Tensor2D {
  return tf.tidy(() => {
    const same = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.expandDims(queueLabels, 0)), "float32");
    return tf.concat([tf.ones([labels.shape[0], 1]), same], 1) as tf.Tensor2D;
  });
}
