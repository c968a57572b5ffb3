/**
 * A ring of one number per queue row (a label or a sibling-group id; −1 = unknown), written at the same pointer as the
 * FeatureQueue it shadows. Plain numbers live in `values` for the mining masks; `variable` mirrors them for checkpoints
 * (call sync() before a checkpoint reads it, restore() after a checkpoint load). Tensor-owning: dispose() frees the variable.
 */
import * as tf from "@tensorflow/tfjs";

export class TagQueue {
  readonly values: Float32Array;
  readonly variable: tf.Variable;

  constructor(readonly size: number) {
    this.values = new Float32Array(size).fill(-1);
    this.variable = tf.variable(tf.tensor1d(this.values), false);
  }

  /** Writes `tags` starting at row `start`, wrapping (call with the FeatureQueue's pointer before its enqueue). */
  write(start: number, tags: ArrayLike<number>): void {
    for (let i = 0; i < tags.length; i += 1) this.values[(start + i) % this.size] = tags[i]!;
  }

  /** [B, K] float mask: 1 where queue row j carries row i's tag; rows tagged −1 match nothing. */
  matches(rows: ArrayLike<number>): tf.Tensor2D {
    const mask = new Float32Array(rows.length * this.size);
    for (let i = 0; i < rows.length; i += 1) {
      const tag = rows[i]!;
      if (tag < 0) continue;
      for (let j = 0; j < this.size; j += 1) if (this.values[j] === tag) mask[i * this.size + j] = 1;
    }
    return tf.tensor2d(mask, [rows.length, this.size]);
  }

  /** [K] float mask: 1 where the row's tag is known. */
  known(): tf.Tensor1D {
    return tf.tensor1d(this.values.map((tag) => (tag < 0 ? 0 : 1)));
  }

  sync(): void {
    tf.tidy(() => this.variable.assign(tf.tensor1d(this.values)));
  }

  restore(): void {
    this.values.set(this.variable.dataSync() as Float32Array);
  }

  dispose(): void {
    this.variable.dispose();
  }
}
