/**
 * The train step (DESIGN.md §6): forward, memory and loss in one closure given to tf.variableGrads, gradients
 * accumulated over micro-batches (to stay under the wasm heap limit; BN statistics are then per micro-batch), one
 * optimiser update, then the task's after-step hook (EMA, queues). Only plain numbers leave: loss and each term, lr,
 * step time. Also the checkpoint state: every named tensor and scalar of task + optimiser + schedule.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import type { Batch } from "../core/types.ts";
import { blend } from "./ops.ts";
import type { Optimizer, Schedule } from "./optim.ts";
import { splitBatch, type MemoryEntry, type Task } from "./task.ts";

export interface StepResult {
  loss: number;
  terms: Record<string, number>;
  lr: number;
  stepMs: number;
  clips: number;
}

export interface ReplicaGradients {
  loss: number;
  terms: Record<string, number>;
  grads: Record<string, Float32Array>;
  /** The memory writes of the replica's part (tasks with memory). */
  memory?: MemoryEntry[] | undefined;
}

/** A trainer replica in another thread (see src/models/replica.ts). */
export interface GradientReplica {
  gradients(batch: Batch): Promise<ReplicaGradients>;
  /** The averaged gradients, the learning rate, and the memory writes of this thread's part (they go first). */
  apply(grads: Record<string, Float32Array>, lr: number, memory: MemoryEntry[]): void;
}

export interface NamedArrays {
  tensors: Map<string, { data: Float32Array; shape: number[] }>;
  scalars: Record<string, unknown>;
}

export class Trainer {
  constructor(
    readonly task: Task,
    readonly optimizer: Optimizer,
    readonly schedule: Schedule,
    readonly microBatch = Infinity,
  ) {}

  step(batch: Batch): StepResult {
    const started = performance.now();
    if (this.task.ready?.() === false) return this.warmUp(batch, started);
    const computed = this.computeGradients(batch);
    this.checkFinite(computed.loss, computed.grads, batch);
    this.applyGradients(computed.grads);
    return { loss: computed.loss, terms: computed.terms, lr: this.optimizer.lr, stepMs: performance.now() - started, clips: computed.clips };
  }

  /**
   * Data-parallel step over this trainer and a replica in another thread (both cores busy although wasm threads do not
   * run in Node): the replica computes the gradient of the second half of the batch while this thread computes the
   * first; the sample-weighted mean is applied here and sent to the replica, whose optimiser applies the same update,
   * so both hold identical weights. BatchNorm statistics are per half (as with PyTorch DDP without SyncBN). A task
   * with memory (queues) swaps its pending writes with the replica's, so both write the whole batch's in order. A
   * batch of one clip is computed here alone, and the replica still gets the update.
   */
  async stepWith(replica: GradientReplica, batch: Batch): Promise<StepResult> {
    const started = performance.now();
    const total = batch.keys.length;
    const [mine, theirs] = total < 2 ? [batch, undefined] : (splitBatch(batch, Math.ceil(total / 2)) as [Batch, Batch]);
    const remote = theirs === undefined ? undefined : replica.gradients(theirs);
    const local = this.computeGradients(mine);
    let other: ReplicaGradients = { loss: 0, terms: {}, grads: {} };
    try {
      if (remote !== undefined) other = await remote;
    } catch (error) {
      tf.dispose(Object.values(local.grads));
      throw error;
    }
    const a = mine.keys.length / total;
    const b = theirs === undefined ? 0 : theirs.keys.length / total;
    const averaged: Record<string, tf.Tensor> = {};
    const arrays: Record<string, Float32Array> = {};
    for (const [name, grad] of Object.entries(local.grads)) {
      const theirsGrad = other.grads[name];
      averaged[name] = theirsGrad === undefined ? grad : tf.tidy(() => blend(grad, a, tf.tensor(theirsGrad, grad.shape), b));
      if (averaged[name] !== grad) grad.dispose();
      arrays[name] = averaged[name]!.dataSync() as Float32Array;
    }
    const loss = a * local.loss + b * other.loss;
    this.checkFinite(loss, averaged, batch);
    const own = this.task.pendingMemory?.() ?? [];
    this.task.adoptMemory?.([], other.memory ?? []);
    replica.apply(arrays, this.optimizer.lr, own);
    const terms = Object.fromEntries(Object.keys(local.terms).map((name) => [name, a * local.terms[name]! + b * (other.terms[name] ?? 0)]));
    this.applyGradients(averaged);
    return { loss, terms, lr: this.optimizer.lr, stepMs: performance.now() - started, clips: total };
  }

  /** A step without a gradient update (the task is filling its memory): forward pass, loss for the record, after-step. */
  private warmUp(batch: Batch, started: number): StepResult {
    const { loss, terms } = tf.tidy(() => {
      const computed = this.task.loss(batch);
      return { loss: computed.loss.dataSync()[0]!, terms: Object.fromEntries(Object.entries(computed.terms).map(([name, t]) => [name, t.dataSync()[0]!])) };
    });
    if (this.task.afterStep !== undefined) tf.tidy(() => this.task.afterStep?.());
    return { loss, terms: { ...terms, warmup: 1 }, lr: this.optimizer.lr, stepMs: performance.now() - started, clips: batch.keys.length };
  }

  /** Forward + backward over micro-batches: the mean loss, its terms and the gradient by parameter name. */
  computeGradients(batch: Batch): { loss: number; terms: Record<string, number>; grads: Record<string, tf.Tensor>; clips: number } {
    const total = batch.keys.length;
    const parts = splitBatch(batch, this.microBatch);
    const byTfName = new Map<string, string>();
    const variables: tf.Variable[] = [];
    for (const [name, info] of this.task.store.params) {
      if (this.optimizer.multiplier(info.group) === 0) continue;
      byTfName.set(info.variable.name, name);
      variables.push(info.variable);
    }
    const sums: Record<string, tf.Tensor> = {};
    const termSums: Record<string, number> = {};
    let lossSum = 0;
    for (const part of parts) {
      const share = part.keys.length / total;
      let kept: Record<string, tf.Scalar> = {};
      const { value, grads } = tf.variableGrads(() => {
        const { loss, terms } = this.task.loss(part);
        kept = Object.fromEntries(Object.entries(terms).map(([name, t]) => [name, tf.keep(t)]));
        return loss;
      }, variables);
      lossSum += share * value.dataSync()[0]!;
      for (const [name, t] of Object.entries(kept)) termSums[name] = (termSums[name] ?? 0) + share * t.dataSync()[0]!;
      // A term may be the loss tensor itself (a single-term loss): dispose each tensor once.
      tf.dispose([...new Set([value, ...Object.values(kept)])]);
      for (const [tfName, grad] of Object.entries(grads)) {
        const name = byTfName.get(tfName) ?? tfName;
        const previous = sums[name];
        if (parts.length === 1) sums[name] = grad;
        else if (previous === undefined) sums[name] = tf.mul(grad, share);
        else sums[name] = blend(previous, 1, grad, share);
        if (sums[name] !== grad) grad.dispose();
        previous?.dispose();
      }
    }
    return { loss: lossSum, terms: termSums, grads: sums, clips: total };
  }

  /** A non-finite loss stops the run before any update (the gradients are dropped). */
  private checkFinite(loss: number, grads: Record<string, tf.Tensor>, batch: Batch): void {
    if (Number.isFinite(loss)) return;
    tf.dispose(Object.values(grads));
    throw new ClipflowError("StageError", `the loss is ${loss} at step ${this.optimizer.step + 1} (batch ${batch.keys.slice(0, 4).join(", ")}…)`, { stage: "train", field: "loss" });
  }

  /** One optimiser update from gradients by name (disposed here), then the task's after-step hook. */
  applyGradients(grads: Record<string, tf.Tensor>): void {
    this.optimizer.apply(grads);
    tf.dispose(Object.values(grads));
    if (this.task.afterStep !== undefined) tf.tidy(() => this.task.afterStep?.());
  }

  /** Everything a checkpoint holds besides the spec and the data cursor. */
  snapshot(): NamedArrays {
    const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
    const add = (prefix: string, map: Map<string, tf.Variable>) => {
      for (const [name, variable] of map) tensors.set(`${prefix}/${name}`, { data: variable.dataSync() as Float32Array, shape: [...variable.shape] });
    };
    add("model", this.task.store.namedTensors());
    const optimizerState = this.optimizer.state();
    add("optimizer", optimizerState.tensors);
    add("task", this.task.stateTensors());
    return { tensors, scalars: { optimizer: optimizerState.scalars, schedule: this.schedule.state(), task: this.task.stateScalars() } };
  }

  /** Loads a snapshot; every model and task tensor must be present with the same shape (no partial loads). */
  restore(state: NamedArrays, what: "all" | "weights" = "all"): void {
    loadNamed(state, "model", this.task.store.namedTensors());
    if (what === "weights") return;
    loadNamed(state, "task", this.task.stateTensors());
    const optimizerTensors = new Map<string, Float32Array>();
    for (const [name, value] of state.tensors) if (name.startsWith("optimizer/")) optimizerTensors.set(name.slice("optimizer/".length), value.data);
    const scalars = state.scalars as { optimizer: { step: number; lr: number; touched: string[] }; schedule: { best: number; bad: number }; task: Record<string, number> };
    this.optimizer.restore(optimizerTensors, scalars.optimizer);
    this.schedule.restore(scalars.schedule);
    this.task.restoreScalars(scalars.task);
  }
}

export function loadNamed(state: NamedArrays, prefix: string, into: Map<string, tf.Variable>): void {
  const expected = new Set<string>();
  for (const [name, variable] of into) {
    const key = `${prefix}/${name}`;
    expected.add(key);
    const value = state.tensors.get(key);
    if (value === undefined) throw new ClipflowError("CheckpointError", `the checkpoint has no tensor ${key}: it was made by a different network`, { field: key });
    if (value.shape.join("x") !== variable.shape.join("x")) {
      throw new ClipflowError("CheckpointError", `tensor ${key} has shape ${value.shape.join("×")} in the checkpoint, ${variable.shape.join("×")} in this network`, { field: key });
    }
  }
  for (const key of state.tensors.keys()) {
    if (key.startsWith(`${prefix}/`) && !expected.has(key)) throw new ClipflowError("CheckpointError", `the checkpoint has a tensor ${key} this network does not`, { field: key });
  }
  for (const [name, variable] of into) {
    const value = state.tensors.get(`${prefix}/${name}`)!;
    variable.assign(tf.tensor(value.data, value.shape));
  }
}
