import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { motionAttention, motionCells, prpTarget, prpViews } from "../../src/kernels/prp.ts";
import { prpLoss } from "../../src/losses/prp.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { constantRun, motionWeight } from "../../src/models/prp.ts";

before(async () => {
  await selectBackend("wasm");
});

function span(rate: number, h: number, w: number, seed: number): Uint8Array {
  const rng = rngFromSeed(seed);
  return Uint8Array.from({ length: 16 * rate * h * w * 3 }, () => rng.int(0, 255));
}

test("the train step's resize of the cell maps gives the full DPAU map (as torch's interpolate, align_corners = false), one frame per chunk", () => {
  for (const [rate, h, w] of [[1, 112, 112], [2, 56, 40], [4, 28, 28]] as const) {
    const input = { dense: span(rate, h, w, rate), shape: [16 * rate, h, w, 3] as [number, number, number, number], rate, mode: "dpau" as const };
    const { cells, shape } = motionCells(input);
    const full = motionAttention(input).weight;
    const before = tf.memory().numTensors;
    const weight = motionWeight({ data: cells, shape: [1, ...shape] }, h, w);
    // the map is constant within each of the rate's chunks (32 / rate target frames): one frame per chunk is kept
    assert.deepEqual(weight.shape, [1, rate, h, w, 3]);
    const resized = weight.dataSync();
    weight.dispose();
    assert.equal(tf.memory().numTensors, before);
    const frame = h * w * 3;
    const run = 32 / rate;
    let worst = 0;
    for (let i = 0; i < full.length; i++) {
      const kept = Math.floor(Math.floor(i / frame) / run) * frame + (i % frame);
      worst = Math.max(worst, Math.abs((resized[kept] as number) - (full[i] as number)));
    }
    assert.ok(worst < 1e-5, `rate ${rate} ${h}×${w}: ${worst}`);
  }
  // a map already at frame size is only thinned
  const same = motionWeight({ data: new Float32Array(2 * 4 * 4 * 3).fill(1.5), shape: [1, 2, 4, 4, 3] }, 4, 4);
  assert.deepEqual(same.shape, [1, 1, 4, 4, 3]);
  assert.deepEqual([...new Set(same.dataSync())], [1.5]);
  same.dispose();
});

test("constantRun: the longest run length dividing T over which every clip's frames are equal", () => {
  // clip frames given as one number each (frame size 1); a batch is [B, T, 1, 1, 1]
  const run = (clips: number[][]) => constantRun(clips.flat(), [clips.length, clips[0]!.length, 1, 1, 1]);
  assert.equal(run([[7, 7, 7, 7, 7, 7, 7, 7]]), 8);
  assert.equal(run([[1, 1, 1, 1, 2, 2, 2, 2]]), 4);
  // a batch mixing rates: chunks of 8 (rate 1 of a 8-frame target), 2 and 4 → runs of 2
  assert.equal(run([[0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 2, 2, 3, 3, 4, 4], [5, 5, 5, 5, 6, 6, 6, 6]]), 2);
  // equal neighbours that straddle a run boundary do not make a longer run
  assert.equal(run([[1, 2, 2, 3, 3, 4, 4, 5]]), 1);
  // T = 6: runs of 3 (not a power of two)
  assert.equal(run([[1, 1, 1, 2, 2, 2]]), 3);
  // frames differ in one value of many
  const a = new Float32Array(2 * 2 * 3).fill(1);
  a[2 * 3 + 5] = 0.5;
  assert.equal(constantRun(a, [1, 2, 2, 1, 3]), 1);
  a[2 * 3 + 5] = 1;
  assert.equal(constantRun(a, [1, 2, 2, 1, 3]), 2);
});

test("PRP's loss on the compact views (bytes, one cell map per chunk) equals the loss on the full float views, rates mixed in a batch", () => {
  const [h, w] = [28, 28];
  const rates = [1, 2, 4];
  const B = rates.length;
  const inputs = rates.map((rate) => ({ dense: span(rate, h, w, 10 + rate), shape: [16 * rate, h, w, 3] as [number, number, number, number], rate, mode: "dpau" as const, patch: 7, poolStride: 2 }));
  const views = inputs.map((input) => prpViews(input));
  const references = inputs.map((input) => prpTarget(input));
  const fulls = inputs.map((input) => motionAttention(input).weight);
  const concat = <T extends Uint8Array | Float32Array>(parts: T[], make: (n: number) => T): T => {
    const out = make(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  };
  const cellShape = views[0]!.motionShape;
  const motion = { data: concat(views.map((v) => v.motion), (n) => new Float32Array(n)), shape: [B, ...cellShape] };
  const value = tf.tidy(() => {
    const reconstruction = tf.randomUniform([B, 32, h, w, 3], 0, 1, "float32", 3);
    const common = {
      reconstruction,
      flags: tf.tensor2d(concat(views.map((v) => v.flags), (n) => new Float32Array(n)), [B, 32]),
      logits: tf.tensor2d([[0.2, -0.1, 0.3], [0.1, 0.1, 0], [-0.5, 0.2, 0.2]]),
      labels: tf.tensor1d([0, 1, 2], "int32"),
    };
    const weight = motionWeight(motion, h, w);
    assert.deepEqual(weight.shape, [B, 4, h, w, 3], "rates 1, 2, 4 in one batch: runs of 32 / 4 = 8 frames, 4 per clip");
    const compact = prpLoss({ ...common, target: tf.div(tf.tensor(concat(views.map((v) => v.target), (n) => new Uint8Array(n)), [B, 32, h, w, 3], "int32"), 255), weight });
    const exact = prpLoss({
      ...common,
      target: tf.tensor(concat(references.map((r) => r.target), (n) => new Float32Array(n)), [B, 32, h, w, 3]),
      weight: tf.tensor(concat(fulls, (n) => new Float32Array(n)), [B, 32, h, w, 3]),
    });
    return [compact.loss.dataSync()[0]!, exact.loss.dataSync()[0]!];
  });
  assert.ok(Math.abs(value[0]! - value[1]!) < 1e-6 * Math.abs(value[1]!), `${value[0]} vs ${value[1]}`);
});

test("a motion weight whose frames do not divide the target's is a StageError", () => {
  const before = tf.memory().numTensors;
  assert.throws(
    () =>
      tf.tidy(() =>
        prpLoss({
          reconstruction: tf.zeros([1, 6, 2, 2, 3]),
          target: tf.zeros([1, 6, 2, 2, 3]),
          weight: tf.ones([1, 4, 2, 2, 3]),
          flags: tf.ones([1, 6]) as tf.Tensor2D,
          logits: tf.zeros([1, 2]) as tf.Tensor2D,
          labels: tf.tensor1d([0], "int32"),
        }).loss,
      ),
    (error: unknown) => (error as { tag?: string }).tag === "StageError" && /dividing the target's 6 frames/.test((error as Error).message),
  );
  assert.equal(tf.memory().numTensors, before, "nothing left behind");
});

test("a motion view that does not match the target is a StageError naming views.motion", async () => {
  const { createPrpTask } = await import("../../src/models/prp.ts");
  const { rngFromString } = await import("../../src/core/rng.ts");
  const task = createPrpTask({ kind: "prp", backbone: { name: "r3d", width: 0.125, blocks: 1 }, rates: 2, lambda: 0.1, reconstruction: true } as never, rngFromString("bad-motion"));
  const B = 2;
  const S = 16;
  const batch = {
    keys: ["a", "b"],
    views: {
      rgb: { data: new Uint8Array(B * 16 * S * S * 3), shape: [B, 16, S, S, 3] },
      target: { data: new Uint8Array(B * 32 * S * S * 3), shape: [B, 32, S, S, 3] },
      motion: { data: new Float32Array(B * 16 * 3 * 3 * 3).fill(1), shape: [B, 16, 3, 3, 3] },
    },
    targets: { rate: { data: new Float32Array([0, 1]), shape: [B] }, flags: { data: new Float32Array(B * 32).fill(1), shape: [B, 32] } },
  };
  const before = tf.memory().numTensors;
  assert.throws(
    () => tf.tidy(() => task.loss(batch as never).loss),
    (error: unknown) => (error as { tag?: string; field?: string }).tag === "StageError" && (error as { field?: string }).field === "views.motion",
  );
  assert.equal(tf.memory().numTensors, before, "nothing left behind");
  task.dispose();
});

test("without view rgb the PRP task encodes the target's even frames: the same loss as with the clip sent", async () => {
  const { createPrpTask } = await import("../../src/models/prp.ts");
  const { rngFromString } = await import("../../src/core/rng.ts");
  const task = createPrpTask({ kind: "prp", backbone: { name: "r3d", width: 0.125, blocks: 1 }, rates: 2, lambda: 0.1, reconstruction: true } as never, rngFromString("clip-from-target"));
  const [B, S] = [2, 16];
  const frame = S * S * 3;
  const target = span(4, S, S, 21); // 64 frames: two clips of 32
  const rgb = new Uint8Array(B * 16 * frame);
  for (let b = 0; b < B; b++) for (let k = 0; k < 16; k++) rgb.set(target.subarray((b * 32 + 2 * k) * frame, (b * 32 + 2 * k + 1) * frame), (b * 16 + k) * frame);
  const common = {
    keys: ["a", "b"],
    targets: { rate: { data: new Float32Array([0, 1]), shape: [B] }, flags: { data: new Float32Array(B * 32).fill(1), shape: [B, 32] } },
  };
  const views = {
    target: { data: target, shape: [B, 32, S, S, 3] },
    motion: { data: Float32Array.from({ length: B * 32 * 3 * 3 * 3 }, (_, i) => 0.8 + ((i * 7) % 13) / 10), shape: [B, 32, 3, 3, 3] },
  };
  const loss = (batch: unknown) => tf.tidy(() => task.loss(batch as never).loss.dataSync()[0]!);
  const lean = loss({ ...common, views });
  const full = loss({ ...common, views: { ...views, rgb: { data: rgb, shape: [B, 16, S, S, 3] } } });
  assert.equal(lean, full);
  // neither the clip nor the target: the missing view is named
  assert.throws(() => loss({ ...common, views: { motion: views.motion } }), (e: unknown) => (e as { field?: string }).field === "views.rgb");
  task.dispose();
});
