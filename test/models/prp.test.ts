import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { motionAttention, motionCells, prpTarget, prpViews } from "../../src/kernels/prp.ts";
import { prpLoss } from "../../src/losses/prp.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { motionWeight } from "../../src/models/prp.ts";

before(async () => {
  await selectBackend("wasm");
});

function span(rate: number, h: number, w: number, seed: number): Uint8Array {
  const rng = rngFromSeed(seed);
  return Uint8Array.from({ length: 16 * rate * h * w * 3 }, () => rng.int(0, 255));
}

test("the train step's resize of the cell maps gives the full DPAU map (as torch's interpolate, align_corners = false)", () => {
  for (const [rate, h, w] of [[1, 112, 112], [2, 56, 40], [4, 28, 28]] as const) {
    const input = { dense: span(rate, h, w, rate), shape: [16 * rate, h, w, 3] as [number, number, number, number], rate, mode: "dpau" as const };
    const { cells, shape } = motionCells(input);
    const full = motionAttention(input).weight;
    const before = tf.memory().numTensors;
    const resized = tf.tidy(() => motionWeight(tf.tensor(cells, [1, ...shape]) as tf.Tensor5D, h, w).dataSync());
    assert.equal(tf.memory().numTensors, before);
    assert.equal(resized.length, full.length);
    let worst = 0;
    for (let i = 0; i < full.length; i++) worst = Math.max(worst, Math.abs((resized[i] as number) - (full[i] as number)));
    assert.ok(worst < 1e-5, `rate ${rate} ${h}×${w}: ${worst}`);
  }
  // a map already at frame size passes through
  const same = tf.ones([1, 2, 4, 4, 3]) as tf.Tensor5D;
  assert.equal(motionWeight(same, 4, 4), same);
  same.dispose();
});

test("PRP's loss on the compact views (bytes, cell maps) equals the loss on the full float views", () => {
  const [h, w] = [28, 28];
  for (const rate of [1, 2]) {
    const dense = span(rate, h, w, 10 + rate);
    const input = { dense, shape: [16 * rate, h, w, 3] as [number, number, number, number], rate, mode: "dpau" as const, patch: 7, poolStride: 2 };
    const views = prpViews(input);
    const reference = prpTarget(input);
    const full = motionAttention(input).weight;
    const value = tf.tidy(() => {
      const reconstruction = tf.randomUniform([1, 32, h, w, 3], 0, 1, "float32", 3);
      const common = { reconstruction, flags: tf.tensor2d(views.flags, [1, 32]), logits: tf.tensor2d([[0.2, -0.1]]), labels: tf.tensor1d([1], "int32") };
      const compact = prpLoss({
        ...common,
        target: tf.div(tf.tensor(views.target, [1, 32, h, w, 3], "int32"), 255),
        weight: motionWeight(tf.tensor(views.motion, [1, ...views.motionShape]) as tf.Tensor5D, h, w),
      });
      const exact = prpLoss({ ...common, target: tf.tensor(reference.target, [1, 32, h, w, 3]), weight: tf.tensor(full, [1, 32, h, w, 3]) });
      return [compact.loss.dataSync()[0]!, exact.loss.dataSync()[0]!];
    });
    assert.ok(Math.abs(value[0]! - value[1]!) < 1e-6 * Math.abs(value[1]!), `rate ${rate}: ${value[0]} vs ${value[1]}`);
  }
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
