/**
 * Optimisers and learning-rate schedules with PyTorch's update rules, so reference hyper-parameters carry over:
 * - SGD: g ← g + wd·θ; buf ← μ·buf + g (buf = g on the first step); θ ← θ − lr·mult·buf (torch.optim.SGD, dampening 0);
 * - AdamW-style Adam with decoupled weight decay, or L2 (torch.optim.Adam) when `decoupled` is false.
 * Parameter groups come from the ParamStore (`group` of each parameter): a multiplier per group (PRP: final Linear
 * 10×), 0 freezes a group (TSP's stem). State (momentum buffers, Adam moments, step) is named for checkpoints.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import { activeSimd } from "./backend.ts";
import type { ParamStore } from "./params.ts";
import type { OptimizerConfig, ScheduleConfig } from "./config.ts";

/** The optimiser's weight decay: as configured, else 5e-4 for SGD and 0 for Adam (see optimizerConfig). */
export function weightDecayOf(config: Pick<OptimizerConfig, "kind" | "weightDecay">): number {
  return config.weightDecay ?? (config.kind === "sgd" ? 5e-4 : 0);
}

export class Optimizer {
  private readonly slots = new Map<string, tf.Variable[]>();
  step = 0;
  lr: number;

  constructor(
    readonly config: OptimizerConfig,
    private readonly store: ParamStore,
  ) {
    this.lr = config.lr;
  }

  multiplier(group: string): number {
    return this.config.groups[group] ?? 1;
  }

  /** Applies one update from gradients keyed by parameter name; disposes nothing it was given. */
  apply(grads: Record<string, tf.Tensor>): void {
    this.step += 1;
    const { momentum, kind, betas, eps, decoupled } = this.config;
    const weightDecay = weightDecayOf(this.config);
    const simd = activeSimd();
    for (const [name, info] of this.store.params) {
      const grad = grads[name];
      const mult = this.multiplier(info.group);
      if (grad === undefined || mult === 0) continue;
      const theta = info.variable;
      const lr = this.lr * mult;
      tf.tidy(() => {
        if (simd !== undefined) {
          // the same float32 operations in one pass per parameter (simdKernels.ts)
          if (kind === "sgd") {
            const buf = momentum > 0 ? this.slot(name, 1, theta)[0]! : undefined;
            const [next, nextBuf] = simd.sgdStep(theta, grad, buf, lr, weightDecay, momentum, !this.touched.has(name));
            if (buf !== undefined) buf.assign(nextBuf!);
            this.touched.add(name);
            theta.assign(next);
            return;
          }
          const [m, v] = this.slot(name, 2, theta) as [tf.Variable, tf.Variable];
          const step = { lr, betas, c1: 1 - betas[0] ** this.step, c2: 1 - betas[1] ** this.step, eps, l2: decoupled ? 0 : weightDecay, decay: decoupled ? lr * weightDecay : 0 };
          const [next, mNext, vNext] = simd.adamStep(theta, grad, m, v, step);
          m.assign(mNext);
          v.assign(vNext);
          theta.assign(next);
          return;
        }
        if (kind === "sgd") {
          const g = weightDecay > 0 ? tf.add(grad, tf.mul(theta, weightDecay)) : grad;
          let update: tf.Tensor = g;
          if (momentum > 0) {
            const buf = this.slot(name, 1, theta)[0]!;
            const next = !this.touched.has(name) ? g : tf.add(tf.mul(buf, momentum), g);
            buf.assign(next);
            update = next;
          }
          this.touched.add(name);
          theta.assign(tf.sub(theta, tf.mul(update, lr)));
          return;
        }
        const [m, v] = this.slot(name, 2, theta) as [tf.Variable, tf.Variable];
        const g = !decoupled && weightDecay > 0 ? tf.add(grad, tf.mul(theta, weightDecay)) : grad;
        m.assign(tf.add(tf.mul(m, betas[0]), tf.mul(g, 1 - betas[0])));
        v.assign(tf.add(tf.mul(v, betas[1]), tf.mul(tf.square(g), 1 - betas[1])));
        const mHat = tf.div(m, 1 - betas[0] ** this.step);
        const vHat = tf.div(v, 1 - betas[1] ** this.step);
        let next = tf.sub(theta, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), eps)), lr));
        if (decoupled && weightDecay > 0) next = tf.sub(next, tf.mul(theta, lr * weightDecay));
        theta.assign(next);
      });
    }
  }

  private readonly touched = new Set<string>();

  private slot(name: string, count: number, like: tf.Variable): tf.Variable[] {
    let slots = this.slots.get(name);
    if (slots === undefined) {
      slots = Array.from({ length: count }, () => tf.variable(tf.zerosLike(like), false));
      this.slots.set(name, slots);
    }
    return slots;
  }

  /** Optimiser state for checkpoints: slot tensors by "param/slotN" and the scalars. */
  state(): { tensors: Map<string, tf.Variable>; scalars: { step: number; lr: number; touched: string[] } } {
    const tensors = new Map<string, tf.Variable>();
    for (const [name, slots] of this.slots) slots.forEach((slot, i) => tensors.set(`${name}/slot${i}`, slot));
    return { tensors, scalars: { step: this.step, lr: this.lr, touched: [...this.touched] } };
  }

  restore(tensors: Map<string, Float32Array>, scalars: { step: number; lr: number; touched: string[] }): void {
    this.step = scalars.step;
    this.lr = scalars.lr;
    this.touched.clear();
    for (const name of scalars.touched) this.touched.add(name);
    const count = this.config.kind === "sgd" ? 1 : 2;
    for (const [name, info] of this.store.params) {
      for (let i = 0; i < count; i += 1) {
        const data = tensors.get(`${name}/slot${i}`);
        if (data === undefined) continue;
        if (data.length !== info.variable.size) {
          throw new ClipflowError("CheckpointError", `optimiser slot ${name}/slot${i} has ${data.length} values, the parameter ${info.variable.size}`, { field: `${name}/slot${i}` });
        }
        this.slot(name, count, info.variable)[i]!.assign(tf.tensor(data, info.variable.shape));
      }
    }
  }

  dispose(): void {
    for (const slots of this.slots.values()) tf.dispose(slots);
    this.slots.clear();
  }
}

/** Learning-rate schedule: `lrAt(epoch)` for epoch-based ones, `observe(metric)` for ReduceLROnPlateau (mode min). */
export class Schedule {
  private best = Infinity;
  private bad = 0;

  constructor(
    readonly config: ScheduleConfig,
    readonly baseLr: number,
  ) {}

  /** Learning rate for an epoch (constant and multiStep; plateau keeps the optimiser's current value). */
  lrAt(epoch: number, current: number, stepInEpoch = 0, stepsPerEpoch = 1): number {
    const c = this.config;
    if (c.kind === "constant") return this.baseLr;
    if (c.kind === "plateau") return current;
    if (c.warmup > 0 && epoch < c.warmup) return (this.baseLr * (epoch * stepsPerEpoch + stepInEpoch + 1)) / (c.warmup * stepsPerEpoch);
    const passed = c.milestones.filter((m) => epoch >= m).length;
    return this.baseLr * c.gamma ** passed;
  }

  /** ReduceLROnPlateau step (PyTorch: relative threshold, mode min): returns the new learning rate. */
  observe(metric: number, current: number): number {
    const c = this.config;
    if (c.kind !== "plateau") return current;
    if (metric < this.best * (1 - c.threshold)) {
      this.best = metric;
      this.bad = 0;
      return current;
    }
    this.bad += 1;
    if (this.bad > c.patience) {
      this.bad = 0;
      return Math.max(current * c.factor, c.minLr);
    }
    return current;
  }

  state(): { best: number; bad: number } {
    return { best: this.best, bad: this.bad };
  }

  restore(state: { best: number; bad: number }): void {
    this.best = state.best ?? Infinity;
    this.bad = state.bad;
  }
}
