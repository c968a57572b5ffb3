/**
 * VTDL's network and loss (Wang et al. 2020; METHODS.md §2): query encoder f_q (trained) and key encoder f_k (EMA of
 * f_q, m = 0.999), both backbone → global average pool → Linear(C, 128) → L2-normalise. Per batch from the
 * temporalTriplet pipeline: q = f_q(TCA(anchor)), k = f_k(positive) (no gradient), n = f_q(negative) (with gradient);
 * logits = [q·k, q·queue, q·n] / 0.07, cross-entropy with target 0. After each step the keys are enqueued (the negative
 * is not) and f_k moves towards f_q. The key encoder and the queue are saved in checkpoints.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import type { Batch } from "../core/types.ts";
import { labelPositives, uberNce } from "../losses/coclr.ts";
import { infoNce, infoNceLogits } from "../losses/nce.ts";
import { momentumUpdate } from "../memory/momentum.ts";
import { FeatureQueue } from "../memory/queue.ts";
import { TagQueue } from "../memory/tagQueue.ts";
import { createBackbone } from "./backbones.ts";
import type { InfonceTaskConfig, VtdlTaskConfig } from "./config.ts";
import { mlpProjectionHead, projectionHead } from "./heads.ts";
import { ParamStore } from "./params.ts";
import { clipFeatures } from "./prp.ts";
import { targetData, viewTensor, type MemoryEntry, type Task } from "./task.ts";

/** Backbone → projection head (linear or MLP) → L2: the query and key encoders of the contrastive tasks. */
export function contrastEncoder(store: ParamStore, config: Pick<VtdlTaskConfig, "backbone" | "projection" | "hidden" | "dim">) {
  const backbone = createBackbone(store, config.backbone);
  const project = config.projection === "mlp" ? mlpProjectionHead(store, backbone.channels, config.hidden, config.dim) : projectionHead(store, backbone.channels, config.dim);
  return { backbone, embed: (x: tf.Tensor5D, training: boolean) => project(backbone.forward(x, training)) };
}

/**
 * Which views play which role, and the task's name. `negative` (VTDL's extra negative) is optional; `byLabel` makes
 * every queued key with the query's label a positive (UberNCE).
 */
interface Roles {
  kind: string;
  query: string;
  key: string;
  negative?: string | undefined;
  byLabel?: boolean;
}

export function createVtdlTask(config: VtdlTaskConfig, rng: Rng): Task {
  return momentumContrast(config, rng, { kind: "vtdl", query: "anchor", key: "positive", negative: config.extraNegative ? "negative" : undefined });
}

/** CoCLR's stage 1 (InfoNCE per modality, METHODS.md §3): the same machinery without the extra negative, on two views. */
export function createInfonceTask(config: InfonceTaskConfig, rng: Rng): Task {
  return momentumContrast(config, rng, { kind: "infonce", query: config.views.query, key: config.views.key, byLabel: config.positives === "labels" });
}

/** Query encoder (trained), key encoder (its EMA copy, starting equal) and the key queue of a momentum-contrast task. */
export function momentumEncoders(config: Parameters<typeof contrastEncoder>[1] & { queueSize: number }, rng: Rng) {
  const store = new ParamStore(rng, config.backbone.init);
  const query = contrastEncoder(store, config);
  const keyStore = new ParamStore(rng.fork("key"), store.convInit);
  const key = contrastEncoder(keyStore, config);
  keyStore.copyFrom(store);
  const queue = new FeatureQueue(config.queueSize, config.dim, rng.fork("queue"));
  return { store, query, keyStore, key, queue };
}

/** The checkpointed state of a momentum-contrast task: the key encoder (`key.*`) and the key queue. */
export function momentumState(keyStore: ParamStore, queue: FeatureQueue): Map<string, tf.Variable> {
  const tensors = new Map<string, tf.Variable>();
  for (const [name, variable] of keyStore.namedTensors()) tensors.set(`key.${name}`, variable);
  tensors.set("queue", queue.tensor);
  return tensors;
}

function momentumContrast(config: VtdlTaskConfig | InfonceTaskConfig, rng: Rng, roles: Roles): Task {
  const { store, query, keyStore, key, queue } = momentumEncoders(config, rng);
  const labels = roles.byLabel ? new TagQueue(config.queueSize) : undefined;
  const pending: Array<{ keys: tf.Tensor2D; labels: ArrayLike<number> }> = [];
  return {
    kind: roles.kind,
    store,
    loss(batch: Batch) {
      const q = query.embed(viewTensor(batch, roles.query), true);
      const k = key.embed(viewTensor(batch, roles.key), true);
      const queued = queue.tensor as tf.Tensor as tf.Tensor2D;
      if (labels !== undefined) {
        const rowLabels = targetData(batch, "label");
        pending.push({ keys: tf.keep(k), labels: rowLabels });
        const logits = infoNceLogits({ query: q, key: k, queue: queued, temperature: config.temperature });
        const loss = uberNce(logits, labelPositives(tf.tensor1d(rowLabels), tf.tensor1d(labels.values)));
        return { loss, terms: { nce: loss } };
      }
      pending.push({ keys: tf.keep(k), labels: [] });
      const negative = roles.negative === undefined ? undefined : query.embed(viewTensor(batch, roles.negative), true);
      return infoNce({ query: q, key: k, queue: queued, temperature: config.temperature, ...(negative === undefined ? {} : { negative }) });
    },
    pendingMemory: () => pending.map((entry) => ({ keys: Float32Array.from(entry.keys.dataSync()), shape: [entry.keys.shape[0], entry.keys.shape[1]], labels: Array.from(entry.labels) })),
    adoptMemory(before: MemoryEntry[], after: MemoryEntry[]) {
      const held = (entry: MemoryEntry) => ({ keys: tf.tensor2d(entry.keys, entry.shape), labels: entry.labels });
      pending.unshift(...before.map(held));
      pending.push(...after.map(held));
    },
    afterStep() {
      momentumUpdate(keyStore, store, config.momentum);
      for (const entry of pending.splice(0)) {
        labels?.write(queue.pointer, entry.labels);
        queue.enqueue(entry.keys);
        entry.keys.dispose();
      }
    },
    features(clips, protocol) {
      return clipFeatures(query.backbone.forward(clips, false), protocol);
    },
    stateTensors() {
      const tensors = momentumState(keyStore, queue);
      if (labels !== undefined) {
        labels.sync(); // brought up to date only when a checkpoint asks
        tensors.set("labels", labels.variable);
      }
      return tensors;
    },
    stateScalars: () => ({ queuePointer: queue.pointer, queueFilled: queue.filled }),
    restoreScalars(values) {
      queue.pointer = values.queuePointer ?? 0;
      queue.filled = values.queueFilled ?? 0;
      labels?.restore();
    },
    dispose() {
      tf.dispose(pending.splice(0).map((entry) => entry.keys));
      store.dispose();
      keyStore.dispose();
      queue.dispose();
      labels?.dispose();
    },
  };
}
