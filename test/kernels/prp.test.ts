import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { ClipflowError } from "../../src/core/errors.ts";
import { rngFromSeed } from "../../src/core/rng.ts";
import { dilatedPlan, dpauCells, motionAttention, prpSpanOffsets, prpTarget, prpViews } from "../../src/kernels/prp.ts";

interface Case {
  name: string;
  seed: number;
  rate: number;
  static: boolean;
  cells: number[][];
  points: [number, number, number, number][];
  motion: number[];
  target: number[];
  flags: number[];
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/kernels/prp.json", import.meta.url), "utf8")) as { cases: Case[] };
const H = 112;
const W = 112;
const C = 3;

/** The Park-Miller bytes the reference script used (test/fixtures/scripts/prp_reference.py). */
function lcgBytes(seed: number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 48271) % 2147483647;
    out[i] = x & 255;
  }
  return out;
}
function dense(c: Case): Uint8Array {
  const t = 16 * c.rate;
  if (!c.static) return lcgBytes(c.seed, t * H * W * C);
  const one = lcgBytes(c.seed, H * W * C);
  const out = new Uint8Array(t * H * W * C);
  for (let k = 0; k < t; k++) out.set(one, k * one.length);
  return out;
}
const at = (data: Float32Array, [t, y, x, c]: [number, number, number, number]) => data[((t * H + y) * W + x) * C + c] as number;

for (const c of fixture.cases) {
  test(`DPAU motion attention matches the torch reference (${c.name}; tolerance 1e-5)`, () => {
    const frames = dense(c);
    for (let k = 0; k < c.rate; k++) {
      const { cells, size } = dpauCells(frames.subarray(k * 16 * H * W * C, (k + 1) * 16 * H * W * C), [16, H, W, C], 28, 7);
      assert.deepEqual(size, [13, 13]);
      (c.cells[k] as number[]).forEach((value, i) => assert.ok(Math.abs((cells[i] as number) - value) < 1e-5, `cell ${i}: ${cells[i]} vs ${value}`));
    }
    const { weight, shape } = motionAttention({ dense: frames, shape: [16 * c.rate, H, W, C], rate: c.rate, mode: "dpau" });
    assert.deepEqual(shape, [32, H, W, C]);
    c.points.forEach((point, i) => assert.ok(Math.abs(at(weight, point) - (c.motion[i] as number)) < 1e-5, `M${JSON.stringify(point)}`));
    if (c.static) assert.ok(weight.every((v) => v === 1), "a static clip weighs 1 everywhere");
    else assert.ok(weight.every((v) => v >= 0.8 - 1e-6 && v <= 2.0 + 1e-6), "weights in [0.8, 2.0]");
  });

  test(`reconstruction target and flags match the torch reference (${c.name})`, () => {
    const { target, flags, shape } = prpTarget({ dense: dense(c), shape: [16 * c.rate, H, W, C], rate: c.rate });
    assert.deepEqual(shape, [32, H, W, C]);
    assert.deepEqual([...flags], c.flags);
    c.points.forEach((point, i) => assert.ok(Math.abs(at(target, point) - (c.target[i] as number)) < 1e-6, `target${JSON.stringify(point)}`));
  });
}

test("motion weight is constant in time within a chunk; mode ones is all ones", () => {
  const c = fixture.cases.find((x) => x.rate === 2) as Case;
  const { weight } = motionAttention({ dense: dense(c), shape: [32, H, W, C], rate: 2, mode: "dpau" });
  const frame = H * W * C;
  for (let t = 1; t < 16; t++) assert.deepEqual(weight.subarray(t * frame, (t + 1) * frame), weight.subarray(0, frame));
  assert.notDeepEqual(weight.subarray(16 * frame, 17 * frame), weight.subarray(0, frame));
  assert.ok(motionAttention({ dense: dense(c), shape: [32, H, W, C], rate: 2, mode: "ones" }).weight.every((v) => v === 1));
  assert.throws(() => motionAttention({ dense: dense(c), shape: [32, H, W, C], rate: 4, mode: "dpau" }), /needs 16·s = 64 dense frames, got 32/);
});

test("dilated sampling: label indexes the rate, the span fits, the encoder takes every s-th frame", () => {
  const rates = [1, 2, 4, 8];
  fc.assert(
    fc.property(fc.integer({ min: 129, max: 1000 }), fc.integer({ min: 0, max: 2 ** 31 }), (n, seed) => {
      const plan = dilatedPlan({ frameCount: n, rates, clipFrames: 16, seed, shortVideo: "error" });
      assert.equal(plan.rate, rates[plan.label]);
      assert.equal(plan.dense.length, 16 * plan.rate);
      assert.ok(plan.start >= 0 && plan.start <= n - 16 * plan.rate - 1);
      assert.deepEqual(plan.encoder, Array.from({ length: 16 }, (_, k) => plan.start + k * plan.rate));
    }),
    { numRuns: 300, seed: 3 },
  );
  const labels = new Set(Array.from({ length: 200 }, (_, seed) => dilatedPlan({ frameCount: 500, rates, clipFrames: 16, seed, shortVideo: "error" }).label));
  assert.deepEqual([...labels].sort(), [0, 1, 2, 3]);
});

test("short videos: an error naming the need, or the largest rate that fits", () => {
  const short = (seed: number, shortVideo: "error" | "lowerRate") => dilatedPlan({ frameCount: 40, rates: [1, 2, 4, 8], clipFrames: 16, seed, shortVideo });
  const seed = Array.from({ length: 50 }, (_, s) => s).find((s) => {
    try {
      short(s, "error");
      return false;
    } catch {
      return true;
    }
  }) as number;
  assert.throws(() => short(seed, "error"), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort" && /needs \d+ frames, the video has 40/.test(e.message));
  assert.equal(short(seed, "lowerRate").rate, 2);
  assert.throws(() => dilatedPlan({ frameCount: 10, rates: [1, 2], clipFrames: 16, seed: 0, shortVideo: "lowerRate" }), /no rate fits/);
});

test("PRP reads only part of long spans: the clip, the target's sources and DPAU's four frames per chunk", () => {
  const range = (n: number, step = 1, from = 0) => Array.from({ length: n }, (_, k) => from + k * step);
  assert.deepEqual(prpSpanOffsets(1, "dpau"), range(16));
  assert.deepEqual(prpSpanOffsets(2, "dpau"), range(32));
  const odd4 = [5, 15, 21, 31, 37, 47, 53, 63];
  assert.deepEqual(prpSpanOffsets(4, "dpau"), [...range(32, 2), ...odd4].sort((a, b) => a - b));
  assert.equal(prpSpanOffsets(8, "dpau").length, 56);
  assert.deepEqual(prpSpanOffsets(8, "ones"), range(32, 4)); // no motion frames: the target's sources hold the clip
  const plan = dilatedPlan({ frameCount: 300, rates: [8], clipFrames: 16, seed: 1, shortVideo: "error" });
  assert.deepEqual(plan.read, prpSpanOffsets(8, "dpau").map((k) => plan.start + k));
  assert.deepEqual(dilatedPlan({ frameCount: 300, rates: [8], clipFrames: 16, seed: 1, shortVideo: "error", motion: "ones" }).read, range(32, 4, plan.start));
});

test("the views from the frames read equal the views from the whole span; a frame not read is a KernelError", () => {
  const [h, w, c] = [20, 24, 3];
  for (const rate of [1, 2, 4, 8]) {
    for (const mode of ["dpau", "ones"] as const) {
      const rng = rngFromSeed(rate);
      const frame = h * w * c;
      const dense = Uint8Array.from({ length: 16 * rate * frame }, () => rng.int(0, 255));
      const offsets = prpSpanOffsets(rate, mode);
      const held = new Uint8Array(offsets.length * frame);
      offsets.forEach((o, i) => held.set(dense.subarray(o * frame, (o + 1) * frame), i * frame));
      const common = { rate, mode, patch: 7, poolStride: 3 };
      const whole = prpViews({ ...common, dense, shape: [16 * rate, h, w, c] });
      const compact = prpViews({ ...common, dense: held, shape: [offsets.length, h, w, c], offsets });
      assert.deepEqual(compact, whole, `rate ${rate} ${mode}`);
      if (offsets.length > 1) {
        const missing = offsets.slice(0, -1);
        const kernelError = (e: unknown) => e instanceof ClipflowError && e.tag === "KernelError";
        assert.throws(() => prpViews({ ...common, dense: held.subarray(0, missing.length * frame), shape: [missing.length, h, w, c], offsets: missing }), (e: unknown) => kernelError(e) && /frame \d+ of the span is needed but was not decoded/.test((e as Error).message));
        assert.throws(() => prpViews({ ...common, dense: held, shape: [offsets.length, h, w, c], offsets: [...offsets].reverse() }), kernelError);
        assert.throws(() => prpViews({ ...common, dense: held, shape: [offsets.length - 1, h, w, c], offsets }), kernelError);
      }
    }
  }
});
