/**
 * A task = a network + the loss of one pretext (PRP, VTDL, ...): everything the train step needs besides the optimiser.
 * Tasks own their tensors (parameters, buffers, memory queues, momentum encoders) and dispose them; only plain
 * numbers leave `step`.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Stacked } from "../core/types.ts";
import { ClipflowError } from "../core/errors.ts";
import type { LossTerms } from "../losses/prp.ts";
import type { ParamStore } from "./params.ts";

/** One write a step has pending for the task's memory, in plain arrays to cross threads: keys [n, d] and their labels. */
export interface MemoryEntry {
  keys: Float32Array;
  shape: [number, number];
  labels: number[];
}

export interface Task {
  readonly kind: string;
  readonly store: ParamStore;
  /** Forward pass and loss for a (micro-)batch; runs inside the gradient tape. */
  loss(batch: Batch): LossTerms;
  /**
   * Loads what the task needs from outside before training (other runs' checkpoints: an initialisation, a frozen
   * sampler). `resuming`: the run's own checkpoint is restored next, so only what shapes the state must be built.
   */
  prepare?(resuming: boolean): Promise<void>;
  /** false while the task must not take a gradient step yet (CoCLR: until its queues are full); the trainer then
   * runs the forward pass and `afterStep` only. */
  ready?(): boolean;
  /** After each optimiser step (EMA updates, enqueueing keys); inside a tidy. */
  afterStep?(): void;
  /**
   * For replicas of a task with after-step memory (momentum contrast): the writes this thread's part of the step has
   * pending, and the other replica's placed before or after them, so that every replica writes the whole batch's
   * keys in batch order (the EMA update needs nothing: the weights are identical).
   */
  pendingMemory?(): MemoryEntry[];
  adoptMemory?(before: MemoryEntry[], after: MemoryEntry[]): void;
  /** Clip features for evaluation, [N, D]; no gradient, eval-mode BN. */
  features(clips: tf.Tensor5D, protocol: "prp" | "coclr"): tf.Tensor2D;
  /**
   * One eval-mode pass for a batch: the pooled clip features (as `features(…, "coclr")`) and the heads' logits by head
   * (TSP: action, and region when the batch has its GVF).
   */
  heads?(batch: Batch): { features: tf.Tensor2D; logits: Record<string, tf.Tensor2D> };
  /** Extra tensors saved in checkpoints (queues, momentum encoders), by name. */
  stateTensors(): Map<string, tf.Variable>;
  /** Extra scalars saved in checkpoints (queue pointers ...). */
  stateScalars(): Record<string, number>;
  restoreScalars(values: Record<string, number>): void;
  dispose(): void;
}

/** A batch view as a float tensor: uint8 pixels scaled to [0, 1], float views as they are. */
export function viewTensor(batch: Batch, name: string): tf.Tensor5D {
  const view = clipView(batch, name);
  const shape = view.shape as [number, number, number, number, number];
  if (view.data instanceof Uint8Array) return bytesToUnit(view.data, shape) as tf.Tensor5D;
  return tf.tensor(view.data, shape) as tf.Tensor5D;
}

const keepsBytes = new Map<string, boolean>();

/**
 * Bytes → float32 tensor in [0, 1] (x / 255). The plain way, an int32 tensor, makes JS convert every byte to an
 * Int32Array first (1.5 ns per value: most of the 4.1 ms per 32-frame 112² clip on wasm). A bool tensor is stored as
 * bytes, and on wasm its cast to float32 keeps their values: 1.3 ms for the same clip, the same floats. That holds
 * for some backends only (a native TensorFlow bool is 0 or 1), so it is checked once per backend and the int32 way
 * used where it does not.
 */
export function bytesToUnit(data: Uint8Array, shape: number[]): tf.Tensor {
  const backend = tf.getBackend();
  let fast = keepsBytes.get(backend);
  if (fast === undefined) {
    const probe = [0, 1, 2, 127, 128, 254, 255];
    const cast = tf.tidy(() => tf.cast(tf.tensor(Uint8Array.from(probe), [probe.length], "bool"), "float32").dataSync());
    fast = probe.every((v, i) => cast[i] === v);
    keepsBytes.set(backend, fast);
  }
  return tf.tidy(() => tf.div(fast ? tf.cast(tf.tensor(data, shape, "bool"), "float32") : tf.tensor(data, shape, "int32"), 255));
}

/** A batch view of clips as plain values ([B, T, H, W, C]), or a StageError naming it. */
export function clipView(batch: Batch, name: string): Stacked {
  const view = requireView(batch.views, name, "views");
  if (view.shape.length !== 5) throw new ClipflowError("StageError", `view "${name}" has shape ${view.shape.join("×")}, expected [B, T, H, W, C]`, { stage: "train", field: `views.${name}` });
  return view;
}

export function targetTensor(batch: Batch, name: string, dtype: "float32" | "int32" = "float32"): tf.Tensor {
  const target = requireView(batch.targets, name, "targets");
  const data = dtype === "int32" ? Int32Array.from(target.data) : target.data;
  return tf.tensor(data, target.shape, dtype);
}

/** A batch target's plain values (e.g. the labels), or a StageError naming the missing target. */
export function targetData(batch: Batch, name: string): Float32Array | Uint8Array {
  return requireView(batch.targets, name, "targets").data;
}

function requireView(record: Record<string, Stacked>, name: string, where: string): Stacked {
  const value = record[name];
  if (value === undefined) {
    throw new ClipflowError("StageError", `the batch has no ${where === "views" ? "view" : "target"} "${name}" (has: ${Object.keys(record).join(", ") || "none"})`, { stage: "train", field: `${where}.${name}` });
  }
  return value;
}

/** Splits a batch into micro-batches of at most `size` samples (gradient accumulation under the wasm heap limit). */
export function splitBatch(batch: Batch, size: number): Batch[] {
  const total = batch.keys.length;
  if (size >= total) return [batch];
  const parts: Batch[] = [];
  for (let start = 0; start < total; start += size) {
    const end = Math.min(total, start + size);
    const cut = (stacked: Stacked): Stacked => {
      const per = stacked.data.length / total;
      return { ...stacked, data: stacked.data.subarray(start * per, end * per), shape: [end - start, ...stacked.shape.slice(1)] };
    };
    parts.push({
      keys: batch.keys.slice(start, end),
      videoIds: batch.videoIds.slice(start, end),
      views: Object.fromEntries(Object.entries(batch.views).map(([k, v]) => [k, cut(v)])),
      targets: Object.fromEntries(Object.entries(batch.targets).map(([k, v]) => [k, cut(v)])),
      meta: batch.meta.slice(start, end),
    });
  }
  return parts;
}
