import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it, test } from "node:test";
import fc from "fast-check";
import { rngFromSeed } from "../../src/core/rng.ts";
import { centreCrop, cropResize, drawRandomCrop, drawRandomResizedCrop, rotateFrames } from "../../src/kernels/spatial.ts";

const frames = (t: number, h: number, w: number, c: number, seed = 1) => {
  let x = seed;
  return Uint8Array.from({ length: t * h * w * c }, () => {
    x = (x * 48271) % 2147483647;
    return x & 255;
  });
};

test("random resized crops stay inside the frame with area and aspect in range (or the centre fallback)", () => {
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 300 }), fc.integer({ min: 8, max: 300 }), fc.integer({ min: 0, max: 2 ** 31 }), (h, w, seed) => {
      const box = drawRandomResizedCrop(rngFromSeed(seed), h, w, [0.2, 1], [3 / 4, 4 / 3]);
      assert.ok(box.x >= 0 && box.y >= 0 && box.x + box.width <= w && box.y + box.height <= h, JSON.stringify(box));
      assert.ok(box.width >= 1 && box.height >= 1);
      const crop = drawRandomCrop(rngFromSeed(seed), h, w, [Math.min(w, 7), Math.min(h, 5)]);
      assert.ok(crop.x + crop.width <= w && crop.y + crop.height <= h);
    }),
    { numRuns: 300, seed: 2 },
  );
  // a very wide frame cannot fit the ratio range in 10 tries of large areas: the fallback clamps the aspect to 4/3
  const fallback = drawRandomResizedCrop(rngFromSeed(0), 10, 1000, [0.99, 1], [3 / 4, 4 / 3]);
  assert.deepEqual(fallback, { x: 493, y: 0, width: 13, height: 10 });
  assert.deepEqual(centreCrop(48, 64, [32, 32]), { x: 16, y: 8, width: 32, height: 32 });
  assert.throws(() => centreCrop(48, 64, [80, 32]), /crop 80×32 is larger than the frame 64×48/);
});

test("a crop without resize copies exactly, keeps the layout, and flipping twice is the identity", () => {
  const data = frames(3, 10, 12, 3);
  const box = { x: 2, y: 3, width: 8, height: 5 };
  const cropped = cropResize({ data, shape: [3, 10, 12, 3], box, size: [8, 5], flip: false, negateU: false });
  assert.deepEqual(cropped.shape, [3, 5, 8, 3]);
  for (let t = 0; t < 3; t++) {
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 8; x++) {
        for (let c = 0; c < 3; c++) {
          assert.equal(cropped.data[((t * 5 + y) * 8 + x) * 3 + c], data[((t * 10 + y + 3) * 12 + x + 2) * 3 + c]);
        }
      }
    }
  }
  const whole = { x: 0, y: 0, width: 8, height: 5 };
  const flipped = cropResize({ data: cropped.data, shape: cropped.shape, box: whole, size: [8, 5], flip: true, negateU: false });
  assert.notDeepEqual(flipped.data, cropped.data);
  assert.deepEqual(cropResize({ data: flipped.data, shape: flipped.shape, box: whole, size: [8, 5], flip: true, negateU: false }).data, cropped.data);
});

test("flipping a flow view negates u (uint8: 255 − q; float: −u) and leaves v; twice is the identity", () => {
  const flow = Uint8Array.from([10, 200, 128, 40, 60, 128]); // 1 frame, 1×2 pixels, (u, v, 128)
  const box = { x: 0, y: 0, width: 2, height: 1 };
  const once = cropResize({ data: flow, shape: [1, 1, 2, 3], box, size: [2, 1], flip: true, negateU: true });
  assert.deepEqual([...once.data], [215, 60, 128, 245, 200, 128]);
  assert.deepEqual([...cropResize({ data: once.data, shape: [1, 1, 2, 3], box, size: [2, 1], flip: true, negateU: true }).data], [...flow]);
  const floats = cropResize({ data: Float32Array.from([1.5, -2, 0, 3, 4, 0]), shape: [1, 1, 2, 3], box, size: [2, 1], flip: true, negateU: true });
  assert.deepEqual([...floats.data], [-3, 4, 0, -1.5, -2, 0]);
});

test("bilinear resize (align_corners false): a constant stays constant, a 2× upsample of a ramp interpolates", () => {
  const constant = new Uint8Array(4 * 4 * 1).fill(77);
  assert.ok(cropResize({ data: constant, shape: [1, 4, 4, 1], box: { x: 0, y: 0, width: 4, height: 4 }, size: [7, 3], flip: false, negateU: false }).data.every((v) => v === 77));
  const ramp = Float32Array.from([0, 10]);
  const up = cropResize({ data: ramp, shape: [1, 1, 2, 1], box: { x: 0, y: 0, width: 2, height: 1 }, size: [4, 1], flip: false, negateU: false });
  assert.deepEqual([...up.data], [0, 2.5, 7.5, 10]);
  assert.throws(() => cropResize({ data: ramp, shape: [1, 1, 2, 1], box: { x: 1, y: 0, width: 2, height: 1 }, size: [2, 1], flip: false, negateU: false }), /outside the 2×1 frame/);
});

describe("rotateFrames (PIL Image.rotate, NEAREST)", () => {
  const fixture = JSON.parse(readFileSync(new URL("../fixtures/kernels/rotate.json", import.meta.url), "utf8")) as {
    cases: Array<{ shape: [number, number, number, number]; angle: number; input: number[]; expected: number[] }>;
  };
  for (const c of fixture.cases) {
    it(`is bit-exact with PIL at ${c.angle}° on ${c.shape[2]}×${c.shape[1]}`, () => {
      const out = rotateFrames({ data: Uint8Array.from(c.input), shape: c.shape, angle: c.angle });
      assert.deepEqual(Array.from(out.data), c.expected);
    });
  }

  it("rotates every frame of a clip by the same angle; 0° is the identity; 360° too", () => {
    const one = fixture.cases[0]!;
    const [, h, w, ch] = one.shape;
    const clip = Uint8Array.from([...one.input, ...one.input]);
    const out = rotateFrames({ data: clip, shape: [2, h, w, ch], angle: one.angle });
    assert.deepEqual(Array.from(out.data), [...one.expected, ...one.expected]);
    assert.deepEqual(rotateFrames({ data: clip, shape: [2, h, w, ch], angle: 0 }).data, clip);
    assert.deepEqual(rotateFrames({ data: clip, shape: [2, h, w, ch], angle: 360 }).data, clip);
  });
});
