import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { gaussianKernel1d } from "../../src/kernels/colour.ts";
import { farnebackFlow } from "../../src/kernels/farneback.ts";
import { dequantize, opticalFlow, quantizeFlow } from "../../src/kernels/flow.ts";
import { boxSum, medianBlur5, separableFilter, toGray, type Plane } from "../../src/kernels/flowImage.ts";
import { tvl1Flow, type Flow } from "../../src/kernels/tvl1.ts";

const fixture = JSON.parse(readFileSync(new URL("../fixtures/flow/tvl1.json", import.meta.url), "utf8")) as {
  cases: Array<{ name: string; width: number; height: number; i0: string; i1: string; u: string; v: string }>;
  rgb: number[];
  gray: number[];
};
const bytes = (b64: string) => new Uint8Array(Buffer.from(b64, "base64"));
const floats = (b64: string) => new Float32Array(bytes(b64).buffer);
const plane = (b64: string, width: number, height: number): Plane => ({ data: Float32Array.from(bytes(b64)), width, height });

/** Ground truth of the fixture's motions (image coordinates, centre 24): the flow d with I1(x + d) = I0(x). */
const truth: Record<string, (x: number, y: number) => [number, number]> = {
  translate: () => [1.5, -0.75],
  rotate: (x, y) => {
    const [dx, dy] = [x - 24, y - 24];
    return [24 + Math.cos(0.05) * dx - Math.sin(0.05) * dy - x, 24 + Math.sin(0.05) * dx + Math.cos(0.05) * dy - y];
  },
  zoom: (x, y) => [24 + 1.06 * (x - 24) - x, 24 + 1.06 * (y - 24) - y],
};

function endPointError(flow: { u: Float32Array; v: Float32Array }, width: number, height: number, gt: (x: number, y: number) => [number, number], border = 4): number {
  let sum = 0;
  let count = 0;
  for (let y = border; y < height - border; y += 1) {
    for (let x = border; x < width - border; x += 1) {
      const [u, v] = gt(x, y);
      sum += Math.hypot(flow.u[y * width + x]! - u, flow.v[y * width + x]! - v);
      count += 1;
    }
  }
  return sum / count;
}

/** A smooth random texture and a copy shifted by (dx, dy) (bilinear), both width × height. */
function shiftedPair(seed: number, dx: number, dy: number, size = 40): [Plane, Plane] {
  let s = seed + 1;
  const rnd = () => ((s = (s * 16807) % 2147483647), s / 2147483647);
  const big = size + 16;
  const tex = separableFilter({ data: Float32Array.from({ length: big * big }, () => rnd() * 255), width: big, height: big }, gaussianKernel1d(7, 1.5));
  const sample = (x: number, y: number) => {
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = x - x0;
    const fy = y - y0;
    const at = (xx: number, yy: number) => tex.data[yy * big + xx]!;
    return (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
  };
  const make = (ox: number, oy: number): Plane => {
    const data = new Float32Array(size * size);
    for (let y = 0; y < size; y += 1) for (let x = 0; x < size; x += 1) data[y * size + x] = Math.round(sample(x + 8 - ox, y + 8 - oy));
    return { data, width: size, height: size };
  };
  return [make(0, 0), make(dx, dy)];
}

function meanFlow(flow: Flow, border: number): [number, number] {
  let u = 0;
  let v = 0;
  let n = 0;
  for (let y = border; y < flow.height - border; y += 1) {
    for (let x = border; x < flow.width - border; x += 1) {
      u += flow.u[y * flow.width + x]!;
      v += flow.v[y * flow.width + x]!;
      n += 1;
    }
  }
  return [u / n, v / n];
}

describe("TV-L1 (OpenCV DualTVL1 defaults)", () => {
  it("luma is OpenCV's fixed-point RGB2GRAY, bit for bit", () => {
    const gray = toGray(Uint8Array.from(fixture.rgb), 0, 16, 1);
    assert.deepEqual(Array.from(gray.data), fixture.gray);
  });

  for (const c of fixture.cases) {
    it(`matches cv2.optflow.DualTVL1OpticalFlow on the ${c.name} pair`, () => {
      const flow = tvl1Flow(plane(c.i0, c.width, c.height), plane(c.i1, c.width, c.height));
      const ref = { u: floats(c.u), v: floats(c.v) };
      const diffs = Array.from(ref.u, (u, i) => Math.hypot(flow.u[i]! - u, flow.v[i]! - ref.v[i]!)).sort((a, b) => a - b);
      const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
      // float32 rounding is amplified by the median filter only where the flow is unconstrained (content leaving the frame)
      assert.ok(diffs[Math.floor(diffs.length / 2)]! < 0.03, `median |Δ| ${diffs[Math.floor(diffs.length / 2)]}`);
      assert.ok(mean < 0.06, `mean |Δ| ${mean}`);
      const ours = endPointError(flow, c.width, c.height, truth[c.name]!);
      const theirs = endPointError(ref, c.width, c.height, truth[c.name]!);
      assert.ok(ours <= theirs * 1.1 + 1e-3, `EPE ${ours} vs OpenCV ${theirs}`);
    });
  }

  it("recovers a translated texture's motion (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: -2.5, max: 2.5, noNaN: true }), fc.double({ min: -2.5, max: 2.5, noNaN: true }), (seed, dx, dy) => {
        const [a, b] = shiftedPair(seed, dx, dy);
        const [u, v] = meanFlow(tvl1Flow(a, b), 6);
        assert.ok(Math.abs(u - dx) < 0.1 && Math.abs(v - dy) < 0.1, `(${u}, ${v}) vs (${dx}, ${dy})`);
      }),
      { numRuns: 6 },
    );
  });
});

describe("Farnebäck (the fast method)", () => {
  it("recovers a translated texture's motion (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: -2.5, max: 2.5, noNaN: true }), fc.double({ min: -2.5, max: 2.5, noNaN: true }), (seed, dx, dy) => {
        const [a, b] = shiftedPair(seed, dx, dy);
        const [u, v] = meanFlow(farnebackFlow(a, b), 8);
        assert.ok(Math.abs(u - dx) < 0.15 && Math.abs(v - dy) < 0.15, `(${u}, ${v}) vs (${dx}, ${dy})`);
      }),
      { numRuns: 10 },
    );
  });

  for (const c of fixture.cases) {
    it(`is within 0.35 px EPE of the true ${c.name} motion`, () => {
      const flow = farnebackFlow(plane(c.i0, c.width, c.height), plane(c.i1, c.width, c.height));
      const epe = endPointError(flow, c.width, c.height, truth[c.name]!, 8);
      assert.ok(epe < 0.35, `EPE ${epe}`);
    });
  }
});

describe("image helpers", () => {
  it("the 5×5 median network equals sorting every window (property, replicated borders)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 1e6 }), (width, height, seed) => {
        let s = seed + 1;
        const data = Float32Array.from({ length: width * height }, () => ((s = (s * 48271) % 2147483647), (s % 1000) / 7));
        const expected = new Float32Array(data.length);
        for (let y = 0; y < height; y += 1) {
          for (let x = 0; x < width; x += 1) {
            const window: number[] = [];
            for (let dy = -2; dy <= 2; dy += 1) for (let dx = -2; dx <= 2; dx += 1) window.push(data[Math.min(height - 1, Math.max(0, y + dy)) * width + Math.min(width - 1, Math.max(0, x + dx))]!);
            expected[y * width + x] = window.sort((a, b) => a - b)[12]!;
          }
        }
        const p = { data: data.slice(), width, height };
        medianBlur5(p);
        assert.deepEqual(p.data, expected);
      }),
    );
  });

  it("box sums equal the naive window sums with clamped edges", () => {
    const width = 7;
    const height = 5;
    const data = Float32Array.from({ length: width * height }, (_, i) => (i * 13) % 11);
    const naive = Array.from({ length: width * height }, (_, i) => {
      let s = 0;
      for (let dy = -2; dy <= 2; dy += 1) for (let dx = -2; dx <= 2; dx += 1) s += data[Math.min(height - 1, Math.max(0, Math.floor(i / width) + dy)) * width + Math.min(width - 1, Math.max(0, (i % width) + dx))]!;
      return s;
    });
    const p = data.slice();
    boxSum([p], width, height, 2);
    assert.deepEqual(Array.from(p), naive);
  });
});

describe("opticalFlow kernel and CoCLR quantisation", () => {
  it("quantises as round((clip(f, ±20) + 20)·255/40) with numpy's half-to-even rounding, third channel 128", () => {
    const flow: Flow = { u: Float32Array.from([0, -20, 20, 35, -0.0784313725490196]), v: Float32Array.from([-25, 1, 0.2, -3, 0]), width: 5, height: 1 };
    const out = new Uint8Array(15);
    quantizeFlow(flow, 20, out, 0);
    // 0 → 127.5 → 128 (even); −0.0784… → 127.0; 0.2 → 129.05 → 129; −3 → 108.375 → 108; 1 → 133.875 → 134
    assert.deepEqual(Array.from(out), [128, 0, 128, 0, 134, 128, 255, 129, 128, 255, 108, 128, 127, 128, 128]);
    for (const q of [0, 37, 128, 255]) assert.ok(Math.abs(dequantize(q, 20) - (q * 40) / 255 + 20) < 1e-12);
  });

  it("gives T − 1 flow frames, quantised (u, v, 128) or float (u, v), with the same motion for both methods", () => {
    const [a, b] = shiftedPair(3, 1, -1, 32);
    const frames = new Uint8Array(2 * 32 * 32 * 3);
    [a, b].forEach((p, k) => p.data.forEach((value, i) => frames.fill(value, (k * 1024 + i) * 3, (k * 1024 + i) * 3 + 3)));
    for (const method of ["tvl1", "farneback"] as const) {
      const q = opticalFlow({ data: frames, shape: [2, 32, 32, 3], method, bound: 20, output: "quantized" });
      assert.deepEqual(q.shape, [1, 32, 32, 3]);
      const f = opticalFlow({ data: frames, shape: [2, 32, 32, 3], method, bound: 20, output: "float" });
      assert.deepEqual(f.shape, [1, 32, 32, 2]);
      const centre = (16 * 32 + 16) * 3;
      assert.equal(q.data[centre + 2], 128);
      assert.ok(Math.abs(dequantize(q.data[centre]!, 20) - 1) < 0.3, `u ${dequantize(q.data[centre]!, 20)}`);
      assert.ok(Math.abs((f.data[(16 * 32 + 16) * 2 + 1] as number) + 1) < 0.3);
    }
  });

  it("refuses a single frame, tiny frames and 4-channel input with typed errors", () => {
    assert.throws(() => opticalFlow({ data: new Uint8Array(16 * 16 * 3), shape: [1, 16, 16, 3], method: "tvl1", bound: 20, output: "float" }), { tag: "TooShort" });
    assert.throws(() => opticalFlow({ data: new Uint8Array(2 * 4 * 4 * 3), shape: [2, 4, 4, 3], method: "tvl1", bound: 20, output: "float" }), { tag: "ConfigError", message: /at least 8×8/ });
    assert.throws(() => opticalFlow({ data: new Uint8Array(2 * 16 * 16 * 4), shape: [2, 16, 16, 4], method: "tvl1", bound: 20, output: "float" }), { tag: "ConfigError", message: /4 channels/ });
  });
});
