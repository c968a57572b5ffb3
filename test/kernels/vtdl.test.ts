import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { tca, tripletPlan } from "../../src/kernels/vtdl.ts";

test("TCA scales every temporal derivative, of any order, by exactly (1 − λ)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 2, max: 8 }),
      fc.double({ min: 0, max: 0.1, noNaN: true }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      (b, t, lambda, seed) => {
        const h = 3;
        const w = 2;
        const c = 3;
        let x = seed || 1;
        const data = Float32Array.from({ length: b * t * h * w * c }, () => {
          x = (x * 48271) % 2147483647;
          return (x % 2000) / 500 - 2;
        });
        const taus = Array.from({ length: b }, (_, i) => (seed + i) % t);
        const out = tca({ data, shape: [b, t, h, w, c], lambda, taus });
        const frame = h * w * c;
        // n-th forward difference along time, for n = 1 .. t-1
        const derivative = (values: Float32Array, clip: number, order: number, p: number): number[] => {
          let series = Array.from({ length: t }, (_, k) => values[(clip * t + k) * frame + p] as number);
          for (let n = 0; n < order; n++) series = series.slice(1).map((v, k) => v - (series[k] as number));
          return series;
        };
        for (let clip = 0; clip < b; clip++) {
          for (let order = 1; order < t; order++) {
            for (let p = 0; p < frame; p += 5) {
              const before = derivative(data, clip, order, p);
              const after = derivative(out, clip, order, p);
              before.forEach((d, k) => {
                const expected = (1 - lambda) * d;
                assert.ok(Math.abs((after[k] as number) - expected) <= 1e-5 * 2 ** order, `order ${order}: ${after[k]} vs ${expected}`);
              });
            }
          }
        }
      },
    ),
    { numRuns: 150, seed: 9 },
  );
});

test("TCA with λ = 0 is the identity; each clip mixes in its own frame τ", () => {
  const data = Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i);
  assert.deepEqual(tca({ data, shape: [2, 3, 1, 2, 1], lambda: 0, taus: [0, 2] }), data);
  const out = tca({ data, shape: [2, 3, 1, 2, 1], lambda: 0.5, taus: [0, 2] });
  // clip 0 frames: [0,1] [2,3] [4,5], τ = 0 → ([0,1] + x)/2 ; clip 1 frames [6,7] [8,9] [10,11], τ = 2 → (x + [10,11])/2
  assert.deepEqual([...out], [0, 1, 1, 2, 2, 3, 8, 9, 9, 10, 10, 11]);
  assert.throws(() => tca({ data, shape: [2, 3, 1, 2, 1], lambda: 0.1, taus: [0] }), /one tau per clip: 1 for 2/);
  assert.throws(() => tca({ data, shape: [2, 3, 1, 2, 1], lambda: 0.1, taus: [0, 3] }), /tau 3 is not a frame of a 3-frame clip/);
});

test("temporal triplet: 16 frames at stride 4 wrapping past the end; the negative starts more than thresh away", () => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 400 }), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 4 }), (n, seed, thresh) => {
      const plan = tripletPlan({ frameCount: n, numFrames: 16, stride: 4, thresh, seed });
      assert.equal(plan.anchor.length, 16);
      plan.anchor.forEach((index, k) => assert.equal(index, (plan.anchorStart + 4 * k) % n));
      plan.negative.forEach((index, k) => assert.equal(index, (plan.negativeStart + 4 * k) % n));
      assert.ok(plan.anchor.every((i) => i >= 0 && i < n));
      // a draw within thresh moves by N/3, which clears thresh whenever N/3 > 2·thresh
      if (Math.floor(n / 3) > 2 * thresh) assert.ok(Math.abs(plan.negativeStart - plan.anchorStart) > thresh, `n ${n}: ${plan.anchorStart} vs ${plan.negativeStart}`);
      assert.deepEqual(plan, tripletPlan({ frameCount: n, numFrames: 16, stride: 4, thresh, seed }));
    }),
    { numRuns: 300, seed: 5 },
  );
  // the shift rule: find a seed whose first draw lands within thresh, and check the N/3 shift
  for (let seed = 0; seed < 500; seed++) {
    const plan = tripletPlan({ frameCount: 90, numFrames: 16, stride: 4, thresh: 2, seed });
    const shifted = (plan.negativeStart - 30 + 90) % 90;
    if (Math.abs(shifted - plan.anchorStart) <= 2) {
      assert.equal(plan.negativeStart, (shifted + 30) % 90);
      return;
    }
  }
  assert.fail("no seed exercised the shift rule");
});

test("TCA matches the torch reference on a [B, C, T, H, W] layout (test/fixtures/scripts/tca_reference.py)", async () => {
  const { readFileSync } = await import("node:fs");
  const f = JSON.parse(readFileSync(new URL("../fixtures/kernels/tca.json", import.meta.url), "utf8")) as {
    shape: [number, number, number, number, number];
    lambda: number;
    taus: number[];
    input: number[];
    expected: number[];
  };
  const out = tca({ data: Float32Array.from(f.input), shape: f.shape, lambda: f.lambda, taus: f.taus });
  out.forEach((v, i) => assert.ok(Math.abs(v - f.expected[i]!) < 1e-5, `${i}: ${v} vs ${f.expected[i]}`));
});
