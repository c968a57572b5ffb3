import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../../src/core/errors.ts";
import { rngFromSeed } from "../../src/core/rng.ts";
import type { Batch } from "../../src/core/types.ts";
import { readCheckpoint, writeCheckpoint } from "../../src/io/checkpoint.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { optimizerConfig, prpTaskConfig, replicasOf, trainSection } from "../../src/models/config.ts";
import { Optimizer, Schedule } from "../../src/models/optim.ts";
import { createPrpTask } from "../../src/models/prp.ts";
import { Trainer } from "../../src/models/trainer.ts";

/** A PRP batch at a tiny geometry: 16×32×32 clips, 32×32×32 targets, deterministic content. */
function prpBatch(size: number, seed: number): Batch {
  const rng = rngFromSeed(seed);
  const clip = 16 * 32 * 32 * 3;
  const target = 32 * 32 * 32 * 3;
  const rgb = Uint8Array.from({ length: size * clip }, () => rng.int(0, 256));
  const dense = Float32Array.from({ length: size * target }, (_, i) => (rgb[Math.floor(i / 2) % rgb.length]! / 255));
  const flags = Float32Array.from({ length: size * 32 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  return {
    keys: Array.from({ length: size }, (_, i) => `v${i}`),
    videoIds: Array.from({ length: size }, (_, i) => `v${i}`),
    views: {
      rgb: { data: rgb, shape: [size, 16, 32, 32, 3], layout: "BTHWC" },
      target: { data: dense, shape: [size, 32, 32, 32, 3], layout: "BTHWC" },
      motion: { data: new Float32Array(size * target).fill(1), shape: [size, 32, 32, 32, 3], layout: "BTHWC" },
    },
    targets: { rate: { data: Float32Array.from({ length: size }, (_, i) => i % 4), shape: [size], layout: "B" }, flags: { data: flags, shape: [size, 32], layout: "B" } },
    meta: Array.from({ length: size }, () => ({})),
  };
}

function makeTrainer(seed = 1, microBatch = Infinity): Trainer {
  const task = createPrpTask(prpTaskConfig.parse({ kind: "prp", backbone: { name: "r3d", width: 0.0625 } }), rngFromSeed(seed));
  const optimizer = new Optimizer(optimizerConfig.parse({ lr: 0.05, groups: { final: 10 } }), task.store);
  return new Trainer(task, optimizer, new Schedule({ kind: "constant" }, 0.05), microBatch);
}

let dir = "";
before(async () => {
  await selectBackend("wasm");
  dir = await mkdtemp(join(tmpdir(), "clipflow-trainer-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("train step (PRP, tiny R3D)", () => {
  it("lowers the loss on a fixed batch, emits only numbers, and leaks no tensors", () => {
    const trainer = makeTrainer();
    const batch = prpBatch(4, 3);
    const first = trainer.step(batch);
    const count = tf.memory().numTensors;
    let last = first;
    for (let i = 0; i < 8; i += 1) last = trainer.step(batch);
    assert.equal(tf.memory().numTensors, count, "tensor count stable across steps");
    assert.ok(last.loss < first.loss * 0.9, `loss ${first.loss} → ${last.loss}`);
    assert.deepEqual(Object.keys(last.terms).sort(), ["classification", "reconstruction"]);
    assert.ok(Math.abs(last.terms.reconstruction! + 0.1 * last.terms.classification! - last.loss) < 1e-5);
    assert.equal(last.clips, 4);
    trainer.task.dispose();
    trainer.optimizer.dispose();
  });

  it("a one-clip batch with a replica is computed here and its update still sent to the replica", async () => {
    const trainer = makeTrainer(6);
    const alone = makeTrainer(6);
    const applied: Array<{ names: string[]; lr: number }> = [];
    const replica = {
      gradients: () => Promise.reject(new Error("a one-clip batch is not split")),
      apply: (grads: Record<string, Float32Array>, lr: number) => void applied.push({ names: Object.keys(grads), lr }),
    };
    const batch = prpBatch(1, 7);
    const result = await trainer.stepWith(replica, batch);
    assert.equal(result.loss, alone.step(batch).loss);
    assert.equal(applied.length, 1);
    assert.deepEqual(applied[0]!.names.sort(), [...trainer.task.store.params.keys()].sort());
    assert.equal(applied[0]!.lr, trainer.optimizer.lr);
    for (const t of [trainer, alone]) {
      t.task.dispose();
      t.optimizer.dispose();
    }
  });

  it("micro-batches of 2 give the gradient of the whole batch (BN aside: same first-step loss)", () => {
    const whole = makeTrainer(5);
    const split = makeTrainer(5, 2);
    const batch = prpBatch(4, 4);
    const a = whole.step(batch);
    const b = split.step(batch);
    // BN statistics differ per micro-batch, so only closeness is expected.
    assert.ok(Math.abs(a.loss - b.loss) / a.loss < 0.05, `${a.loss} vs ${b.loss}`);
    for (const t of [whole, split]) {
      t.task.dispose();
      t.optimizer.dispose();
    }
  });
});

describe("checkpoints", () => {
  it("round-trip: a restored trainer continues exactly like the original", async () => {
    const original = makeTrainer(7);
    const batch = prpBatch(2, 8);
    original.step(batch);
    const path = await writeCheckpoint(dir, original.snapshot(), { step: 1, epoch: 0, cursor: 1, spec: { name: "t" } });
    const next = original.step(batch);
    const restored = makeTrainer(99);
    const loaded = await readCheckpoint(dir);
    assert.equal(loaded.dir, path);
    assert.equal(loaded.meta.cursor, 1);
    restored.restore(loaded.state);
    const again = restored.step(batch);
    assert.equal(again.loss, next.loss);
    for (const t of [original, restored]) {
      t.task.dispose();
      t.optimizer.dispose();
    }
  });

  it("refuses corrupt, truncated, missing and mismatched checkpoints with CheckpointError / MissingFile", async () => {
    const trainer = makeTrainer(1);
    const path = await writeCheckpoint(dir, trainer.snapshot(), { step: 2, epoch: 0, cursor: 0, spec: {} });
    const bin = join(path, "tensors.bin");
    const bytes = await readFile(bin);
    const flipped = Buffer.from(bytes);
    flipped[100] = flipped[100]! ^ 0xff;
    await writeFile(bin, flipped);
    await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof ClipflowError && e.tag === "CheckpointError" && /corrupt/.test(e.message));
    await writeFile(bin, bytes.subarray(0, bytes.length - 8));
    await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof ClipflowError && e.tag === "CheckpointError" && /truncated/.test(e.message));
    await writeFile(bin, bytes);
    await writeFile(join(path, "state.json"), "{not json");
    await assert.rejects(readCheckpoint(path), (e: unknown) => e instanceof ClipflowError && e.tag === "CheckpointError");
    await assert.rejects(readCheckpoint(join(dir, "nope")), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile");
    // A checkpoint of another architecture: named tensor missing / wrong shape.
    const other = makeTrainer(1);
    const path2 = await writeCheckpoint(dir, other.snapshot(), { step: 3, epoch: 0, cursor: 0, spec: {} });
    const c3d = createPrpTask(prpTaskConfig.parse({ kind: "prp", backbone: { name: "c3d", width: 0.0625 } }), rngFromSeed(1));
    const wide = new Trainer(c3d, new Optimizer(optimizerConfig.parse({}), c3d.store), new Schedule({ kind: "constant" }, 0.01));
    const loaded = await readCheckpoint(path2);
    assert.throws(() => wide.restore(loaded.state), (e: unknown) => e instanceof ClipflowError && e.tag === "CheckpointError" && /different network|shape/.test(e.message));
    for (const t of [trainer, other, wide]) {
      t.task.dispose();
      t.optimizer.dispose();
    }
  });
});

describe("train.replicas", () => {
  const section = (kind: string, replicas?: unknown) => {
    const task = kind === "custom" ? { kind, name: "mine" } : kind === "tsp" ? { kind, backbone: { name: "r3d" }, classes: 4 } : { kind, backbone: { name: "r3d" } };
    return trainSection.parse({ task, ...(replicas === undefined ? {} : { replicas }) });
  };

  it("auto (the default) is 2 for tasks that can run as replicas on 2 or more cores, else 1; a number is kept", () => {
    assert.equal(section("prp").replicas, "auto");
    assert.equal(replicasOf(section("prp"), 2), 2);
    assert.equal(replicasOf(section("prp"), 16), 2);
    assert.equal(replicasOf(section("tsp"), 2), 2);
    assert.equal(replicasOf(section("vtdl"), 2), 2);
    assert.equal(replicasOf(section("infonce"), 2), 2);
    assert.equal(replicasOf(section("prp"), 1), 1);
    assert.equal(replicasOf(section("custom"), 2), 1);
    assert.equal(replicasOf(section("prp", 1), 2), 1);
    assert.equal(replicasOf(section("vtdl", 2), 1), 2);
  });

  it("anything but auto, 1 or 2 is rejected", () => {
    for (const bad of [0, 3, 1.5, "two", null]) assert.equal(trainSection.safeParse({ task: { kind: "prp", backbone: { name: "r3d" } }, replicas: bad }).success, false, String(bad));
  });
});
