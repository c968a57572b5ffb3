/**
 * The train step (DESIGN.md §6): forward, memory and loss in one closure given to tf.variableGrads, gradients
 * accumulated over micro-batches (to stay under the wasm heap limit; BN statistics are then per micro-batch), one
 * optimiser update, then the task's after-step hook (EMA, queues). Only plain numbers leave: loss and each term, lr,
 * step time. Also the checkpoint state: every named tensor and scalar of task + optimiser + schedule.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import type { Batch } from "../core/types.ts";
import type { Optimizer, Schedule } from "./optim.ts";
import { splitBatch, type Task } from "./task.ts";

export interface StepResult {
  loss: number;
  terms: Record<string, number>;
  lr: number;
  stepMs: number;
  clips: number;
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
        const scaled = parts.length === 1 ? grad : tf.tidy(() => tf.mul(grad, share));
        if (scaled !== grad) grad.dispose();
        const previous = sums[name];
        if (previous === undefined) sums[name] = scaled;
        else {
          sums[name] = tf.add(previous, scaled);
          tf.dispose([previous, scaled]);
        }
      }
    }
    if (!Number.isFinite(lossSum)) {
      tf.dispose(Object.values(sums));
      throw new ClipflowError("StageError", `the loss is ${lossSum} at step ${this.optimizer.step + 1} (batch ${batch.keys.slice(0, 4).join(", ")}…)`, { stage: "train", field: "loss" });
    }
    this.optimizer.apply(sums);
    tf.dispose(Object.values(sums));
    if (this.task.afterStep !== undefined) tf.tidy(() => this.task.afterStep?.());
    return { loss: lossSum, terms: termSums, lr: this.optimizer.lr, stepMs: performance.now() - started, clips: total };
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
