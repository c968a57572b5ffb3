import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { rngFromSeed } from "../../src/core/rng.ts";
import { colourJitter, drawColourJitter, gaussianBlur, type ColourJitterParams, type ColourOp } from "../../src/kernels/colour.ts";

const fixture = JSON.parse(readFileSync(new URL("../fixtures/kernels/colour.json", import.meta.url), "utf8")) as {
  shape: [number, number, number, number];
  clip: number[];
  cases: Array<{ order: ColourOp[]; params: Record<ColourOp, number>; lastOnly: boolean; grayscale: boolean; expected: number[] }>;
};

describe("colour jitter (torchvision semantics)", () => {
  for (const [index, c] of fixture.cases.entries()) {
    it(`matches the torch reference, case ${index} (${c.order.join(" → ")}${c.lastOnly ? ", last op only" : ""}${c.grayscale ? ", grayscale" : ""})`, () => {
      const params: ColourJitterParams = { order: c.order, ...c.params, grayscale: c.grayscale };
      const out = colourJitter({ data: Float32Array.from(fixture.clip), shape: fixture.shape, params, lastOnly: c.lastOnly });
      let worst = 0;
      out.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - c.expected[i]!))));
      assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
    });
  }

  it("neutral parameters leave a clip unchanged, in any order (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 1000 }), (values, seed) => {
        const order = rngFromSeed(seed).shuffle(["brightness", "contrast", "saturation", "hue"] as ColourOp[]);
        const params: ColourJitterParams = { order, brightness: 1, contrast: 1, saturation: 1, hue: 0, grayscale: false };
        const out = colourJitter({ data: Float32Array.from(values), shape: [1, 2, 2, 3], params });
        out.data.forEach((v, i) => assert.ok(Math.abs(v - Math.fround(values[i]!)) < 1e-6));
      }),
    );
  });

  it("uint8 in, uint8 out; one parameter set per clip; ranges respected", () => {
    const data = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const params = drawColourJitter(rngFromSeed(3), { brightness: 0.5, contrast: 0.5, saturation: 0.25, hue: 0.5, grayscale: 1 });
    const out = colourJitter({ data, shape: [2, 2, 2, 3], params });
    assert.ok(out.data instanceof Uint8Array);
    for (let i = 0; i < out.data.length; i += 3) assert.ok(out.data[i] === out.data[i + 1] && out.data[i] === out.data[i + 2], "grayscale");
    for (let seed = 0; seed < 200; seed += 1) {
      const p = drawColourJitter(rngFromSeed(seed), { brightness: 0.5, contrast: 0.5, saturation: 0.25, hue: 0.5 });
      assert.ok(p.brightness >= 0.5 && p.brightness <= 1.5 && p.saturation >= 0.75 && p.saturation <= 1.25 && Math.abs(p.hue) <= 0.5);
      assert.deepEqual([...p.order].sort(), ["brightness", "contrast", "hue", "saturation"]);
      assert.equal(p.grayscale, false);
    }
    assert.deepEqual(drawColourJitter(rngFromSeed(9), { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }), drawColourJitter(rngFromSeed(9), { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 }));
  });

  it("channel gray copies one random channel into all three (CoCLR)", () => {
    const data = Float32Array.from([0.1, 0.5, 0.9, 0.3, 0.2, 0.7]);
    const params: ColourJitterParams = { order: [], brightness: 1, contrast: 1, saturation: 1, hue: 0, grayscale: true, grayChannel: 2 };
    assert.deepEqual(Array.from(colourJitter({ data, shape: [1, 1, 2, 3], params }).data), [0.9, 0.9, 0.9, 0.7, 0.7, 0.7].map(Math.fround));
    const channels = new Set(Array.from({ length: 50 }, (_, seed) => drawColourJitter(rngFromSeed(seed), { brightness: 0, contrast: 0, saturation: 0, hue: 0, grayscale: 1, grayMode: "channel" }).grayChannel));
    assert.deepEqual([...channels].sort(), [0, 1, 2]);
  });

  it("refuses frames that are not RGB", () => {
    const params: ColourJitterParams = { order: ["hue"], brightness: 1, contrast: 1, saturation: 1, hue: 0.1, grayscale: false };
    assert.throws(() => colourJitter({ data: new Uint8Array(4), shape: [1, 2, 2, 1], params }), /needs RGB frames \(3 channels\), got 1/);
  });
});

describe("gaussian blur (torchvision semantics)", () => {
  const blur = JSON.parse(readFileSync(new URL("../fixtures/kernels/blur.json", import.meta.url), "utf8")) as {
    cases: Array<{ shape: [number, number, number, number]; kernelSize: number; sigma: number; input: number[]; expected: number[] }>;
  };
  for (const c of blur.cases) {
    it(`matches the torch reference: kernel ${c.kernelSize}, σ ${c.sigma}, ${c.shape.join("×")}`, () => {
      const out = gaussianBlur({ data: Float32Array.from(c.input), shape: c.shape, kernelSize: c.kernelSize, sigma: c.sigma });
      let worst = 0;
      out.data.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - c.expected[i]!))));
      assert.ok(worst < 1e-5, `max |Δ| ${worst}`);
    });
  }
  it("keeps a constant image, keeps uint8 as uint8, and refuses even kernels and frames too small to reflect", () => {
    const flat = new Uint8Array(4 * 4 * 3).fill(77);
    assert.deepEqual(gaussianBlur({ data: flat, shape: [1, 4, 4, 3], kernelSize: 3, sigma: 1 }).data, flat);
    assert.throws(() => gaussianBlur({ data: flat, shape: [1, 4, 4, 3], kernelSize: 4, sigma: 1 }), /odd kernel size, got 4/);
    assert.throws(() => gaussianBlur({ data: flat, shape: [1, 4, 4, 3], kernelSize: 9, sigma: 1 }), /needs frames larger than 4×4/);
  });
});
