/**
 * MoCo-style FIFO queue of keys (VTDL, CoCLR; METHODS.md §2–3): a [K, D] tensor and a write pointer. Starts as
 * L2-normalised Gaussian noise (as MoCo's reference does), seeded; enqueue overwrites the oldest rows, wrapping around.
 * Tensor-owning: dispose() frees it; `tensor`, `pointer` and `filled` are saved in checkpoints.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import type { Rng } from "../core/rng.ts";

export class FeatureQueue {
  readonly tensor: tf.Variable;
  pointer = 0;
  /** Rows written so far, capped at K (CoCLR takes no step until the queue is full). */
  filled = 0;

  constructor(
    readonly size: number,
    readonly dim: number,
    rng: Rng,
  ) {
    const data = new Float32Array(size * dim);
    for (let i = 0; i < size; i += 1) {
      let norm = 0;
      for (let d = 0; d < dim; d += 1) {
        const v = rng.normal();
        data[i * dim + d] = v;
        norm += v * v;
      }
      norm = Math.sqrt(norm) || 1;
      for (let d = 0; d < dim; d += 1) data[i * dim + d]! /= norm;
    }
    this.tensor = tf.variable(tf.tensor2d(data, [size, dim]), false);
  }

  /** Writes rows [B, D] at the pointer (wrapping), oldest first out. */
  enqueue(keys: tf.Tensor2D): void {
    const [b, dim] = keys.shape;
    if (dim !== this.dim) throw new ClipflowError("StageError", `queue holds ${this.dim}-dim keys, got ${dim}`, { field: "queue" });
    if (b > this.size) throw new ClipflowError("ConfigError", `a batch of ${b} keys does not fit a queue of ${this.size}`, { field: "queueSize" });
    tf.tidy(() => {
      const end = this.pointer + b;
      const parts: tf.Tensor[] = [];
      if (end <= this.size) {
        if (this.pointer > 0) parts.push(this.tensor.slice([0, 0], [this.pointer, dim]));
        parts.push(keys);
        if (end < this.size) parts.push(this.tensor.slice([end, 0], [this.size - end, dim]));
      } else {
        const wrap = end - this.size;
        parts.push(keys.slice([b - wrap, 0], [wrap, dim]));
        parts.push(this.tensor.slice([wrap, 0], [this.pointer - wrap, dim]));
        parts.push(keys.slice([0, 0], [b - wrap, dim]));
      }
      this.tensor.assign(tf.concat(parts, 0));
    });
    this.pointer = (this.pointer + b) % this.size;
    this.filled = Math.min(this.size, this.filled + b);
  }

  dispose(): void {
    this.tensor.dispose();
  }
}
