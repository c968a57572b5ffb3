import assert from "node:assert/strict";
import { test } from "node:test";
import { ClipflowError } from "../../src/core/errors.ts";
import { stackSamples } from "../../src/stages/batch.ts";
import { randomSample } from "../helpers/context.ts";

test("stacks views to [B, T, H, W, C] in sample order and targets to [B] / [B, n]", () => {
  const samples = [0, 1, 2].map((i) => {
    const sample = randomSample(`k${i}`, [2, 3, 4, 3], ["rgb", "flow"]);
    sample.targets.flags = new Float32Array([i, i + 0.5]);
    return sample;
  });
  const batch = stackSamples(samples);
  assert.deepEqual(batch.keys, ["k0", "k1", "k2"]);
  const rgb = batch.views.rgb;
  assert.ok(rgb);
  assert.deepEqual(rgb.shape, [3, 2, 3, 4, 3]);
  assert.equal(rgb.layout, "BTHWC");
  assert.ok(rgb.data instanceof Uint8Array);
  const each = 2 * 3 * 4 * 3;
  for (let i = 0; i < 3; i++) assert.deepEqual([...rgb.data.subarray(i * each, (i + 1) * each)], [...(samples[i]?.views.rgb?.data ?? [])]);
  assert.deepEqual(batch.targets.label?.shape, [3]);
  assert.deepEqual([...(batch.targets.label?.data ?? [])], samples.map((s) => s.targets.label));
  assert.deepEqual(batch.targets.flags?.shape, [3, 2]);
  assert.deepEqual([...(batch.targets.flags?.data ?? [])], [0, 0.5, 1, 1.5, 2, 2.5]);
});

test("a float view anywhere makes the stacked view float32", () => {
  const a = randomSample("a", [1, 1, 1, 3]);
  const b = randomSample("b", [1, 1, 1, 3]);
  const rgb = b.views.rgb;
  assert.ok(rgb);
  b.views.rgb = { ...rgb, data: new Float32Array([0.25, 0.5, 0.75]) };
  const batch = stackSamples([a, b]);
  assert.ok(batch.views.rgb?.data instanceof Float32Array);
  assert.deepEqual([...(batch.views.rgb?.data ?? [])].slice(3), [0.25, 0.5, 0.75]);
});

test("mismatched shapes or targets are typed errors naming the sample and field", () => {
  assert.throws(
    () => stackSamples([randomSample("a", [2, 4, 4, 3]), randomSample("b", [3, 4, 4, 3])]),
    (error: unknown) =>
      error instanceof ClipflowError &&
      error.key === "b" &&
      error.field === "views.rgb" &&
      error.message === 'view "rgb" has shape 3×4×4×3, batch has 2×4×4×3',
  );
  const a = randomSample("a");
  const b = randomSample("b");
  b.targets = {};
  assert.throws(() => stackSamples([a, b]), (error: unknown) => (error as ClipflowError).field === "targets.label");
  assert.throws(() => stackSamples([]), /empty batch/);
});
