/**
 * Config schemas of the model step (zod only, no tensors: the spec registry and `clipflow schema` import them without
 * loading TensorFlow.js). The schemas are the types (z.infer); defaults follow METHODS.md.
 */
import { z } from "zod";

export const backboneConfig = z.object({
  name: z.enum(["c3d", "r3d", "r2plus1d", "s3d"]).default("r2plus1d"),
  /** Channel width multiplier (1 = the published widths 64…512). */
  width: z.number().positive().max(4).default(1),
  /** Residual blocks per stage (r3d / r2plus1d): 1 = PRP's 10-layer variants, 2 = the 18-layer ones (c3d, s3d: unused). */
  blocks: z.int().min(1).max(4).default(1),
  /**
   * Convolution weight initialisation of the whole network (backbone and heads): "torch" is PyTorch's default,
   * U(±1/√fan-in), which the PRP reference keeps; "kaiming" is torchvision's video-ResNet normal(0, √(2/fan-out)).
   * Unset: the task's reference (PRP torch, the others kaiming). With BN after every convolution the forward pass does
   * not care, but the weights' scale sets the effective step of Adam and SGD, and random-init features differ.
   */
  init: z.enum(["torch", "kaiming"]).optional(),
});
export type BackboneConfig = z.infer<typeof backboneConfig>;

export const prpTaskConfig = z.object({
  kind: z.literal("prp"),
  backbone: backboneConfig.prefault({}),
  /** Number of playback rates (the classifier's outputs). */
  rates: z.int().min(2).default(4),
  /** Weight of the rate cross-entropy (0.1 in PRP). */
  lambda: z.number().min(0).default(0.1),
  /** Train the decoder branch (false = rate classification only, PRP's ablation). */
  reconstruction: z.boolean().default(true),
});
export type PrpTaskConfig = z.infer<typeof prpTaskConfig>;

export const optimizerConfig = z.object({
  kind: z.enum(["sgd", "adam"]).default("sgd"),
  lr: z.number().positive().default(0.01),
  momentum: z.number().min(0).max(1).default(0.9),
  /**
   * L2 penalty (or AdamW's decoupled decay). Unset: 5e-4 for SGD (METHODS' PRP value) and 0 for Adam (PyTorch's
   * default). Coupled L2 under Adam moves every weight whose loss gradient is small by about lr per step towards 0: at
   * 5e-4 it zeroed PRP's last stage (BN scales and running variances ~0, most channels dead) within 3,000 steps.
   */
  weightDecay: z.number().min(0).optional(),
  betas: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.9, 0.999]),
  eps: z.number().positive().default(1e-8),
  decoupled: z.boolean().default(false),
  /** Learning-rate multiplier per parameter group; 0 freezes the group. */
  groups: z.record(z.string(), z.number().min(0)).default({}),
});
export type OptimizerConfig = z.infer<typeof optimizerConfig>;

export const scheduleConfig = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("constant") }),
  z.object({ kind: z.literal("multiStep"), milestones: z.array(z.int().min(0)), gamma: z.number().positive().default(0.1), warmup: z.int().min(0).default(0) }),
  z.object({
    kind: z.literal("plateau"),
    patience: z.int().min(0).default(50),
    factor: z.number().positive().max(1).default(0.1),
    minLr: z.number().min(0).default(1e-7),
    threshold: z.number().min(0).default(1e-4),
  }),
]);
export type ScheduleConfig = z.infer<typeof scheduleConfig>;

const contrastiveFields = {
  backbone: backboneConfig.prefault({}),
  /** Projection dimension. */
  dim: z.int().min(1).default(128),
  queueSize: z.int().min(1).default(5000),
  temperature: z.number().positive().default(0.07),
  /** EMA momentum of the key encoder. */
  momentum: z.number().min(0).max(1).default(0.999),
  /** "linear": pool → Linear(C, dim) (VTDL); "mlp": pool → Linear(C, hidden) → ReLU → Linear(hidden, dim) (CoCLR). */
  projection: z.enum(["linear", "mlp"]).default("linear"),
  hidden: z.int().min(1).default(1024),
};

/** MoCo-style InfoNCE with a queue and an EMA key encoder on two views of a clip (CoCLR's stage 1, per modality). */
export const infonceTaskConfig = z.object({
  kind: z.literal("infonce"),
  ...contrastiveFields,
  queueSize: z.int().min(1).default(2048),
  projection: z.enum(["linear", "mlp"]).default("mlp"),
  /** View names: the query's and the key's. */
  views: z.object({ query: z.string().default("rgb0"), key: z.string().default("rgb1") }).prefault({}),
  /**
   * "instance": the key of the same clip is the one positive (InfoNCE). "labels": UberNCE, CoCLR's supervised oracle —
   * every queued key with the query's label is a positive too (needs a `label` target); an upper bound for mining.
   */
  positives: z.enum(["instance", "labels"]).default("instance"),
});
export type InfonceTaskConfig = z.infer<typeof infonceTaskConfig>;

/**
 * CoCLR's co-training cycle (METHODS.md §3, stage 2): trains one modality's encoder with InfoNCE whose positives are
 * mined by the other modality's frozen encoder (the sampler) over a second queue, plus the UCF101 siblings.
 */
export const coclrTaskConfig = z.object({
  kind: z.literal("coclr"),
  ...contrastiveFields,
  queueSize: z.int().min(1).default(2048),
  projection: z.enum(["linear", "mlp"]).default("mlp"),
  /** The modality this cycle trains (views `<modality>0` query, `<modality>1` key); the sampler sees the other one. */
  modality: z.enum(["rgb", "flow"]),
  /** Checkpoint (run or checkpoint folder) this encoder starts from: its stage-1 InfoNCE run or the previous cycle. */
  init: z.string().min(1).optional(),
  /** Checkpoint of the other modality's encoder: frozen, it embeds the key clip's other view and mines positives. */
  sampler: z.string().min(1),
  /** Mined positives per row (top-K of the sampler's similarity over the second queue). */
  topK: z.int().min(1).default(5),
  /** Probability per iteration that rows with a mined positive drop the self-positive. */
  dropSelf: z.number().min(0).max(1).default(0.9),
  /** Clips of the same source-video group (UCF101 v_<Class>_gXX) are positives. */
  siblings: z.boolean().default(true),
});
export type CoclrTaskConfig = z.infer<typeof coclrTaskConfig>;

/** The modality a task trains: a CoCLR cycle names it, InfoNCE by its query view (flow0 …), everything else RGB. */
export function taskModality(task: { kind?: string; modality?: string; views?: { query?: string } } | undefined): "rgb" | "flow" {
  if (task?.kind === "coclr") return task.modality === "flow" ? "flow" : "rgb";
  return task?.views?.query?.startsWith("flow") === true ? "flow" : "rgb";
}

export const vtdlTaskConfig = z.object({
  kind: z.literal("vtdl"),
  ...contrastiveFields,
  /** Keys in the queue: 3569 (HMDB51), 5000 (UCF101), 12500 (Kinetics subset). */
  queueSize: z.int().min(1).default(5000),
  /** VTDL's extra negative: q·n with n = f_q(negative clip), with gradient. false = plain MoCo with a queue. */
  extraNegative: z.boolean().default(true),
});
export type VtdlTaskConfig = z.infer<typeof vtdlTaskConfig>;

export const tspTaskConfig = z.object({
  kind: z.literal("tsp"),
  backbone: backboneConfig.prefault({ name: "r2plus1d", blocks: 2 }),
  /** Action classes of the action head. */
  classes: z.int().min(1),
  /** false = TAC, the action-head-only baseline (no region head, no GVF). */
  regionHead: z.boolean().default(true),
  /** Weights of the two cross-entropies (1 and 1 in TSP). */
  actionWeight: z.number().min(0).default(1),
  regionWeight: z.number().min(0).default(1),
});
export type TspTaskConfig = z.infer<typeof tspTaskConfig>;

/** A task written in code (network + loss), passed to `pretrain({ task })`; the spec only names it. */
export const customTaskConfig = z.looseObject({ kind: z.literal("custom"), name: z.string().min(1) });

export const taskConfig = z.discriminatedUnion("kind", [prpTaskConfig, vtdlTaskConfig, infonceTaskConfig, coclrTaskConfig, tspTaskConfig, customTaskConfig]);
export type TaskConfig = z.infer<typeof taskConfig>;

/** The `train` section of a pretraining spec. */
export const trainSection = z.object({
  task: taskConfig,
  optimizer: optimizerConfig.prefault({}),
  schedule: scheduleConfig.prefault({ kind: "constant" }),
  /** Passes over the data. */
  epochs: z.int().min(1).default(1),
  /** Stop after this many optimiser steps (overrides epochs when reached first). */
  steps: z.int().min(1).optional(),
  /** Largest micro-batch in one forward/backward (gradients are accumulated); default: the whole batch. */
  microBatch: z.int().min(1).optional(),
  /** Write a checkpoint every N steps (and always at the end of each epoch and on Ctrl-C). */
  checkpointEvery: z.int().min(1).default(500),
  backend: z.enum(["auto", "tensorflow", "wasm", "cpu"]).default("auto"),
  /** Where wasm's and cpu's 3D convolutions run: ONNX Runtime's native kernels when installed ("auto"), or tfjs's. */
  convolutions: z.enum(["auto", "onnxruntime", "tfjs"]).default("auto"),
  /**
   * Data-parallel replicas of the step (2 = a second trainer in a worker thread, both cores busy); "auto": 2 where the
   * machine has 2 or more cores and the task can run as replicas (PRP, TSP, VTDL, InfoNCE), else 1.
   */
  replicas: z.union([z.literal("auto"), z.int().min(1).max(2)]).default("auto"),
});
export type TrainSection = z.infer<typeof trainSection>;

/**
 * Tasks that can run as replicas: no state between steps (PRP, TSP), or momentum contrast, whose replicas exchange the
 * keys they enqueue (VTDL, InfoNCE). CoCLR's cycle (warm-up, second queues) runs as one.
 */
const replicableTasks: ReadonlySet<TaskConfig["kind"]> = new Set(["prp", "tsp", "vtdl", "infonce"]);

/** Whether a task of this kind can run as replicas (see replicableTasks). */
export function replicable(kind: TaskConfig["kind"]): boolean {
  return replicableTasks.has(kind);
}

/** The number of replicas `train.replicas` stands for on a machine with `cores` cores. */
export function replicasOf(train: TrainSection, cores: number): number {
  if (train.replicas !== "auto") return train.replicas;
  return cores >= 2 && replicable(train.task.kind) ? 2 : 1;
}
