/**
 * CoCLR's co-training cycle (Han, Xie, Zisserman 2020; METHODS.md §3, stage 2). One modality's query encoder (with its
 * EMA key encoder and queue, as in stage 1) learns from InfoNCE whose positive set is mined by the OTHER modality's
 * frozen encoder g (the sampler, loaded from that modality's checkpoint): g embeds the other view of each key clip,
 * a second queue keeps those embeddings aligned with the main queue, and P = {0} ∪ siblings ∪ top-K of g-similarity
 * over the second queue (siblings excluded from the top-K). With probability `dropSelf` per iteration, rows with any
 * mined positive drop the self-positive. Loss = −log Σ_{j∈P} p_j. No gradient step until the queues are full.
 * The sampler's weights, both queues and the group queue are saved in checkpoints, so a resumed cycle does not need
 * the sampler's run folder any more.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import { rngFromString, type Rng } from "../core/rng.ts";
import type { Batch } from "../core/types.ts";
import { readCheckpoint } from "../io/checkpoint.ts";
import { infoNceLogits } from "../losses/nce.ts";
import { minePositives, multiPositiveNce } from "../losses/coclr.ts";
import { momentumUpdate } from "../memory/momentum.ts";
import { FeatureQueue } from "../memory/queue.ts";
import { TagQueue } from "../memory/tagQueue.ts";
import { taskConfig, taskModality, type CoclrTaskConfig } from "./config.ts";
import { ParamStore } from "./params.ts";
import { clipFeatures } from "./prp.ts";
import { viewTensor, type Task } from "./task.ts";
import { loadNamed } from "./trainer.ts";
import { contrastEncoder, momentumEncoders, momentumState } from "./vtdl.ts";

type Modality = CoclrTaskConfig["modality"];

/** A sibling group as an integer that float32 holds exactly (FNV-1a, 23 bits); −1 = no group. */
export function groupId(group: unknown): number {
  if (typeof group !== "string" || group === "") return -1;
  let hash = 0x811c9dc5;
  for (let i = 0; i < group.length; i += 1) hash = Math.imul(hash ^ group.charCodeAt(i), 0x01000193);
  return (hash >>> 0) & 0x7fffff;
}

/** Reads a contrastive (infonce or coclr) checkpoint: its encoder config, modality and tensors. */
async function contrastiveCheckpoint(path: string, field: string) {
  const { dir, meta, state } = await readCheckpoint(path);
  const recorded = (meta.spec as { train?: { task?: unknown } } | undefined)?.train?.task;
  const parsed = taskConfig.safeParse(recorded);
  if (!parsed.success || (parsed.data.kind !== "infonce" && parsed.data.kind !== "coclr")) {
    throw new ClipflowError("ConfigError", `${dir} is not a contrastive run (InfoNCE or CoCLR); its task is ${JSON.stringify((recorded as { kind?: string } | undefined)?.kind)}`, { uri: dir, field });
  }
  return { dir, config: parsed.data, modality: taskModality(parsed.data), state };
}

/**
 * Of the queue positives (mined and siblings), the fraction whose label equals the row's: CoCLR's measure of how well
 * the other modality mines (chance = the label's share of the queue). Undefined when no row or queue entry has a label.
 */
export function positivePrecision(mask: tf.Tensor2D, labels: TagQueue, rowLabels: ArrayLike<number>): tf.Scalar | undefined {
  if (!Array.from(rowLabels).some((label) => label >= 0) || !labels.values.some((label) => label >= 0)) return undefined;
  return tf.tidy(() => {
    const queuePositives = mask.slice([0, 1], [-1, labels.size]);
    const rowsKnown = tf.tensor2d(Array.from(rowLabels, (label) => (label < 0 ? 0 : 1)), [rowLabels.length, 1]);
    const counted = tf.mul(tf.mul(queuePositives, labels.known()), rowsKnown);
    const hits = tf.sum(tf.mul(queuePositives, labels.matches(rowLabels)));
    return tf.div(hits, tf.maximum(tf.sum(counted), 1)) as tf.Scalar;
  });
}

export function createCoclrTask(config: CoclrTaskConfig, rng: Rng): Task {
  const own: Modality = config.modality;
  const other: Modality = own === "rgb" ? "flow" : "rgb";
  const { store, query, keyStore, key, queue } = momentumEncoders(config, rng);
  const groups = new TagQueue(config.queueSize);
  const labels = new TagQueue(config.queueSize);
  const dropBase = rng.uint32();
  const samplerRng = rng.fork("sampler");
  let sampler: { store: ParamStore; embed: (x: tf.Tensor5D, training: boolean) => tf.Tensor2D; queue: FeatureQueue } | undefined;
  let iteration = 0;
  const pending: Array<{ keys: tf.Tensor2D; samplerKeys: tf.Tensor2D; groups: number[]; labels: ArrayLike<number> }> = [];

  return {
    kind: "coclr",
    store,
    async prepare(resuming) {
      const found = await contrastiveCheckpoint(config.sampler, "train.task.sampler");
      if (found.modality !== other) {
        throw new ClipflowError("ConfigError", `the sampler ${found.dir} was trained on ${found.modality}; a ${own} cycle mines with a ${other} encoder`, { uri: found.dir, field: "train.task.sampler" });
      }
      const samplerStore = new ParamStore(samplerRng, found.config.backbone.init);
      const encoder = contrastEncoder(samplerStore, found.config);
      loadNamed(found.state, "model", samplerStore.namedTensors());
      sampler?.store.dispose();
      sampler?.queue.dispose();
      sampler = { store: samplerStore, embed: encoder.embed, queue: new FeatureQueue(config.queueSize, found.config.dim, samplerRng.fork("queue")) };
      if (config.init !== undefined && !resuming) {
        const init = await contrastiveCheckpoint(config.init, "train.task.init");
        if (init.modality !== own) {
          throw new ClipflowError("ConfigError", `the initialisation ${init.dir} was trained on ${init.modality}; this cycle trains ${own}`, { uri: init.dir, field: "train.task.init" });
        }
        loadNamed(init.state, "model", store.namedTensors());
        keyStore.copyFrom(store);
      }
    },
    ready: () => queue.filled >= queue.size,
    loss(batch: Batch) {
      if (sampler === undefined) throw new ClipflowError("StageError", "the CoCLR task was not prepared (its sampler is not loaded)", { stage: "train", field: "train.task.sampler" });
      const q = query.embed(viewTensor(batch, `${own}0`), true);
      const k = key.embed(viewTensor(batch, `${own}1`), true);
      const g = tf.tidy(() => sampler!.embed(viewTensor(batch, `${other}1`), false));
      const rows = batch.meta.map((meta) => (config.siblings ? groupId(meta.group) : -1));
      const rowLabels = batch.targets.label?.data ?? new Float32Array(rows.length).fill(-1);
      pending.push({ keys: tf.keep(k), samplerKeys: tf.keep(g), groups: rows, labels: rowLabels });
      const logits = infoNceLogits({ query: q, key: k, queue: queue.tensor as tf.Tensor as tf.Tensor2D, temperature: config.temperature });
      const drop = rngFromString(`${dropBase}:${iteration}`).uniform(0, 1) < config.dropSelf;
      const mask = minePositives({
        samplerKeys: g,
        samplerQueue: sampler.queue.tensor as tf.Tensor as tf.Tensor2D,
        topK: config.topK,
        siblings: groups.matches(rows),
        dropSelf: rows.map(() => drop),
      });
      const loss = multiPositiveNce(logits, mask);
      const positives = tf.mean(tf.sum(mask, 1)) as tf.Scalar;
      const precision = positivePrecision(mask, labels, rowLabels);
      return { loss, terms: { nce: loss, positives, ...(precision === undefined ? {} : { positivePrecision: precision }) } };
    },
    afterStep() {
      momentumUpdate(keyStore, store, config.momentum);
      iteration += 1;
      for (const entry of pending.splice(0)) {
        groups.write(queue.pointer, entry.groups);
        labels.write(queue.pointer, entry.labels);
        queue.enqueue(entry.keys);
        sampler?.queue.enqueue(entry.samplerKeys);
        tf.dispose([entry.keys, entry.samplerKeys]);
      }
    },
    features(clips, protocol) {
      return clipFeatures(query.backbone.forward(clips, false), protocol);
    },
    stateTensors() {
      const tensors = momentumState(keyStore, queue);
      // the tag rings live in plain arrays; their variables are brought up to date only when a checkpoint asks
      groups.sync();
      labels.sync();
      tensors.set("groups", groups.variable);
      tensors.set("labels", labels.variable);
      if (sampler !== undefined) {
        for (const [name, variable] of sampler.store.namedTensors()) tensors.set(`sampler.${name}`, variable);
        tensors.set("samplerQueue", sampler.queue.tensor);
      }
      return tensors;
    },
    stateScalars: () => ({ queuePointer: queue.pointer, queueFilled: queue.filled, iteration }),
    restoreScalars(values) {
      queue.pointer = values.queuePointer ?? 0;
      queue.filled = values.queueFilled ?? 0;
      if (sampler !== undefined) {
        sampler.queue.pointer = queue.pointer;
        sampler.queue.filled = queue.filled;
      }
      iteration = values.iteration ?? 0;
      groups.restore();
      labels.restore();
    },
    dispose() {
      for (const entry of pending.splice(0)) tf.dispose([entry.keys, entry.samplerKeys]);
      store.dispose();
      keyStore.dispose();
      queue.dispose();
      groups.dispose();
      labels.dispose();
      sampler?.store.dispose();
      sampler?.queue.dispose();
    },
  };
}
