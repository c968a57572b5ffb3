/**
 * The 3D convolution cases both convolution engines are checked on (test/models/ops.test.ts: tfjs's folded conv2d;
 * test/models/ortConv.test.ts: ONNX Runtime): value and both gradients against the cpu backend's tf.conv3d; and the
 * decoder block that composes a stride-2 transposed convolution with a 3×3×3 convolution (upsampleConv3d) against the
 * two layers run one after the other. The max pooling and batch normalisation cases are also run on clipflow's SIMD
 * kernels (test/models/simdKernels.test.ts).
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { batchNorm, batchNormTrain, conv3d, maxPool3d, maxPool3dStrided, relayout, upsampleConv3d, type ConvLayouts, type Triple } from "../../src/models/ops.ts";
import { rngFromSeed } from "../../src/core/rng.ts";

export function random(shape: number[], seed: number): tf.Tensor {
  const rng = rngFromSeed(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
}

export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Infinity);
}

export function scaleOf(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] ?? 1);
}

export const convCases: Array<{ name: string; x: number[]; k: number[]; stride: Triple; pad: Triple }> = [
  { name: "3×3×3 stride 1 pad 1", x: [2, 5, 7, 6, 3], k: [3, 3, 3, 3, 4], stride: [1, 1, 1], pad: [1, 1, 1] },
  { name: "3×7×7 stem stride (1,2,2)", x: [1, 4, 13, 11, 3], k: [3, 7, 7, 3, 5], stride: [1, 2, 2], pad: [1, 3, 3] },
  { name: "3×3×3 stride 2 (odd sizes)", x: [2, 7, 9, 9, 2], k: [3, 3, 3, 2, 3], stride: [2, 2, 2], pad: [1, 1, 1] },
  { name: "1×1×1 stride 2 shortcut", x: [2, 6, 8, 8, 4], k: [1, 1, 1, 4, 6], stride: [2, 2, 2], pad: [0, 0, 0] },
  { name: "1×1×1 stride 2 shortcut, odd sizes", x: [1, 5, 7, 9, 4], k: [1, 1, 1, 4, 3], stride: [2, 2, 2], pad: [0, 0, 0] },
  { name: "3×1×1 temporal", x: [2, 6, 5, 5, 4], k: [3, 1, 1, 4, 3], stride: [1, 1, 1], pad: [1, 0, 0] },
  { name: "3×1×1 temporal stride 2", x: [1, 8, 3, 3, 4], k: [3, 1, 1, 4, 3], stride: [2, 1, 1], pad: [1, 0, 0] },
  { name: "1×3×3 spatial stride (1,2,2)", x: [2, 3, 8, 8, 3], k: [1, 3, 3, 3, 5], stride: [1, 2, 2], pad: [0, 1, 1] },
  { name: "3×3×3, 64 input channels (taps folded into channels)", x: [1, 4, 5, 5, 64], k: [3, 3, 3, 64, 8], stride: [1, 1, 1], pad: [1, 1, 1] },
  { name: "3×3×3 stride 2, 64 input channels", x: [1, 5, 6, 6, 64], k: [3, 3, 3, 64, 4], stride: [2, 2, 2], pad: [1, 1, 1] },
  { name: "3×3×3, fewer outputs than inputs (16 → 3, the PRP decoder's last layer)", x: [2, 4, 6, 5, 16], k: [3, 3, 3, 16, 3], stride: [1, 1, 1], pad: [1, 1, 1] },
  { name: "1×1×1 stride 1 (S3D's pointwise layers)", x: [2, 3, 4, 5, 6], k: [1, 1, 1, 6, 7], stride: [1, 1, 1], pad: [0, 0, 0] },
];

/** One `it` per case: conv3d on the active wasm backend against tf.conv3d on the cpu backend, no tensor leaks. */
export function itMatchesReference(engine: string, layouts?: ConvLayouts): void {
  const io = layouts === undefined ? "" : ` (x channel-${layouts.x}, y channel-${layouts.y})`;
  for (const c of convCases) {
    it(`${c.name}: value and both gradients on ${engine}${io} equal the cpu backend's tf.conv3d`, async () => {
      // Reference on the cpu backend: wasm's own Conv3DBackpropInputV2 returns zeros for strided and padded cases.
      await tf.setBackend("cpu");
      const reference = tf.tidy(() => {
        const x = random(c.x, 1) as tf.Tensor5D;
        const w = random(c.k, 2) as tf.Tensor5D;
        const f = (xi: tf.Tensor, wi: tf.Tensor) =>
          tf.conv3d(tf.pad(xi as tf.Tensor5D, [[0, 0], [c.pad[0], c.pad[0]], [c.pad[1], c.pad[1]], [c.pad[2], c.pad[2]], [0, 0]]), wi as tf.Tensor5D, c.stride, "valid");
        const y = f(x, w);
        const probe = random([...y.shape], 3);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), probe)))([x, w]);
        return [y, gx!, gw!].map((t) => ({ data: t.dataSync().slice(), shape: t.shape }));
      });
      await tf.setBackend("wasm");
      const before = tf.memory().numTensors;
      const x = random(c.x, 1) as tf.Tensor5D;
      const w = random(c.k, 2) as tf.Tensor5D;
      // with layouts, x goes in and y comes out as asked, and are brought back to channel-last here to compare
      const ours = (xi: tf.Tensor, wi: tf.Tensor) => {
        const given = relayout(xi as tf.Tensor5D, "last", layouts?.x ?? "last");
        const out = conv3d(given, tf.transpose(wi, [1, 2, 0, 3, 4]) as tf.Tensor5D, c.stride, c.pad, true, layouts);
        return relayout(out, layouts?.y ?? "last", "last");
      };
      const y = tf.tidy(() => ours(x, w));
      const probe = random([...y.shape], 3);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(ours(a, b), probe)))([x, w]);
      ["forward", "input gradient", "filter gradient"].forEach((what, i) => {
        const r = tf.tensor(reference[i]!.data, reference[i]!.shape);
        const o = [y, gx!, gw!][i]!;
        assert.ok(maxAbsDiff(r, o) < 1e-4 * scaleOf(r), `${what}: ${maxAbsDiff(r, o)} of ${scaleOf(r)}`);
        r.dispose();
      });
      tf.dispose([x, w, probe, y, gx!, gw!]);
      assert.equal(tf.memory().numTensors, before, "no tensor leaks");
    });
  }
}

/** Coarse input [n,t,h,w,cin], Cmid, Cout: odd sizes, a single voxel (every tap at a border), Cmid ≠ Cin. */
const upsampleCases: Array<{ x: [number, number, number, number, number]; cmid: number; cout: number }> = [
  { x: [2, 3, 4, 5, 6], cmid: 6, cout: 3 },
  { x: [1, 1, 1, 1, 4], cmid: 4, cout: 2 },
  { x: [2, 2, 3, 2, 5], cmid: 7, cout: 4 },
];

/**
 * upsampleConv3d against the transposed convolution (kernel 2, stride 2) + bias, then tf.conv3d (3×3×3, padding 1) on the cpu
 * backend: the value and the gradients of the input and of all three parameters.
 */
export function itUpsamplesLikeTwoLayers(engine: string): void {
  for (const c of upsampleCases) {
    it(`upsampling block ${c.x.join("×")} → ${c.cmid} → ${c.cout} on ${engine}: value and four gradients equal the two layers'`, async () => {
      const [n, t, h, w, cin] = c.x;
      const make = () => [random(c.x, 21), random([2, 2, 2, cin, c.cmid], 22), random([c.cmid], 23), random([3, 3, 3, c.cmid, c.cout], 24)];
      const probeShape = [n, 2 * t, 2 * h, 2 * w, c.cout];
      await tf.setBackend("cpu");
      const reference = tf.tidy(() => {
        const inputs = make();
        const probe = random(probeShape, 25);
        // the transposed convolution written out: every voxel's 8 sub-positions get x·up[a,b,c] (tf.conv3dTranspose has
        // no gradient on cpu); tf.conv3d takes [d,h,w,in,out] (ours are [h,w,d,in,out])
        const f = (x: tf.Tensor, up: tf.Tensor, bias: tf.Tensor, k: tf.Tensor) => {
          const products = tf.matMul(x.reshape([-1, cin]), tf.transpose(up, [3, 0, 1, 2, 4]).reshape([cin, 8 * c.cmid]));
          const interleaved = tf.transpose(products.reshape([n, t, h, w, 2, 2, 2, c.cmid]), [0, 1, 4, 2, 5, 3, 6, 7]);
          const upsampled = tf.add(interleaved.reshape([n, 2 * t, 2 * h, 2 * w, c.cmid]), bias);
          const padded = tf.pad(upsampled as tf.Tensor5D, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]]);
          return tf.conv3d(padded, tf.transpose(k, [2, 0, 1, 3, 4]) as tf.Tensor5D, 1, "valid");
        };
        const grads = tf.grads((x: tf.Tensor, up: tf.Tensor, bias: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(f(x, up, bias, k), probe)))(make());
        return [f(...(make() as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), ...grads].map((r) => ({ data: r.dataSync().slice(), shape: r.shape }));
      });
      await tf.setBackend("wasm");
      const before = tf.memory().numTensors;
      const inputs = make();
      const probe = random(probeShape, 25);
      const ours = (x: tf.Tensor, up: tf.Tensor, bias: tf.Tensor, k: tf.Tensor) => upsampleConv3d(x as tf.Tensor5D, up as tf.Tensor5D, bias, k as tf.Tensor5D);
      const y = tf.tidy(() => ours(...(inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])));
      const grads = tf.grads((x: tf.Tensor, up: tf.Tensor, bias: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(ours(x, up, bias, k), probe)))(inputs);
      ["value", "input gradient", "transposed filter gradient", "bias gradient", "filter gradient"].forEach((what, i) => {
        const r = tf.tensor(reference[i]!.data, reference[i]!.shape);
        const o = [y, ...grads][i]!;
        assert.ok(maxAbsDiff(r, o) < 1e-5 * scaleOf(r), `${what}: ${maxAbsDiff(r, o)} of ${scaleOf(r)}`);
        r.dispose();
      });
      tf.dispose([...inputs, probe, y, ...grads]);
      assert.equal(tf.memory().numTensors, before, "no tensor leaks");
    });
  }
}

/** Max pooling geometries: C3D's and R3D's window = stride pools (odd sizes: floor mode), S3D's overlapping ones. */
const poolCases: Array<{ name: string; x: number[]; window: Triple; stride: Triple; pad: Triple }> = [
  { name: "1×2×2 = stride (C3D's first pool)", x: [2, 3, 8, 6, 4], window: [1, 2, 2], stride: [1, 2, 2], pad: [0, 0, 0] },
  { name: "2×2×2 = stride, odd sizes", x: [1, 5, 7, 5, 3], window: [2, 2, 2], stride: [2, 2, 2], pad: [0, 0, 0] },
  { name: "3×3×3 stride 1 padding 1 (S3D's Inception branch)", x: [2, 4, 5, 6, 3], window: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1] },
  { name: "3×3×3 stride 1 padding 1, 9 channels", x: [1, 3, 4, 5, 9], window: [3, 3, 3], stride: [1, 1, 1], pad: [1, 1, 1] },
  { name: "1×3×3 stride (1,2,2) padding (0,1,1) (S3D's stem)", x: [1, 3, 9, 8, 5], window: [1, 3, 3], stride: [1, 2, 2], pad: [0, 1, 1] },
  { name: "3×3×3 stride 2 padding 1", x: [1, 6, 7, 7, 2], window: [3, 3, 3], stride: [2, 2, 2], pad: [1, 1, 1] },
];

/**
 * maxPool3d (window = stride) and maxPool3dStrided on the active engine against the cpu backend's tf.maxPool3d on an
 * input padded with −∞ (PyTorch's implicit padding): the value, and the gradient, which goes to each window's maximum.
 */
export function itPoolsLikePyTorch(engine: string): void {
  for (const c of poolCases) {
    it(`max pooling ${c.name} on ${engine}: value and gradient equal the cpu backend's`, async () => {
      const [pt, ph, pw] = c.pad;
      await tf.setBackend("cpu");
      const reference = tf.tidy(() => {
        const f = (x: tf.Tensor) => tf.maxPool3d(tf.pad(x as tf.Tensor5D, [[0, 0], [pt, pt], [ph, ph], [pw, pw], [0, 0]], -3.4e38), c.window, c.stride, "valid");
        const x = random(c.x, 31);
        const y = f(x);
        const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(f(a), random([...y.shape], 32))))(x);
        return [y, dx].map((r) => ({ data: r.dataSync().slice(), shape: r.shape }));
      });
      await tf.setBackend("wasm");
      const before = tf.memory().numTensors;
      const x = random(c.x, 31);
      const same = c.pad.every((p) => p === 0) && c.window.every((k, i) => k === c.stride[i]);
      const ours = (a: tf.Tensor) => (same ? maxPool3d(a as tf.Tensor5D, c.window) : maxPool3dStrided(a as tf.Tensor5D, c.window, c.stride, c.pad));
      const y = tf.tidy(() => ours(x));
      const probe = random([...y.shape], 32);
      const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(ours(a), probe)))(x);
      ["value", "gradient"].forEach((what, i) => {
        const r = tf.tensor(reference[i]!.data, reference[i]!.shape);
        assert.ok(maxAbsDiff(r, [y, dx][i]!) < 1e-6 * scaleOf(r), `${what}: ${maxAbsDiff(r, [y, dx][i]!)}`);
        r.dispose();
      });
      tf.dispose([x, y, probe, dx]);
      assert.equal(tf.memory().numTensors, before, "no tensor leaks");
    });
  }
}

/**
 * batchNormTrain (training mode, optional ReLU) on the active kernels against autodiff of the plain formula, and
 * evaluation mode with the batch's own statistics.
 */
export function itNormalisesLikeTheFormula(engine: string, layout: "last" | "first" = "last"): void {
  // 6 and 3 channels take the spread path of the per-channel factors, 16 the broadcasting one
  for (const [relu, channels] of [[false, 6], [true, 6], [true, 3], [false, 16], [true, 16]] as const) {
    it(`batch norm on ${engine}${layout === "first" ? " (channel-first)" : ""}: value and gradients equal autodiff of the plain formula${relu ? " with ReLU" : ""}, ${channels} channels`, () => {
      // t·h·w = 45: the channel-first kernel's SIMD runs and a scalar tail
      const x = random([2, 3, 3, 5, channels], 10);
      const gamma = random([channels], 11);
      const beta = random([channels], 12);
      const probe = random([2, 3, 3, 5, channels], 13);
      const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2, 3]);
        const y = tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
        return relu ? tf.relu(y) : y;
      };
      // a channel-first run is given x transposed, and its y is transposed back to compare
      const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const out = batchNormTrain(relayout(a as tf.Tensor5D, "last", layout), g, b, relu, 1e-5, layout);
        tf.dispose([out.mean, out.variance]);
        return relayout(out.y as tf.Tensor5D, layout, "last");
      };
      const loss = (f: typeof plain) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), probe));
      const [yRef, yOurs] = [tf.tidy(() => plain(x, gamma, beta)), tf.tidy(() => fused(x, gamma, beta))];
      assert.ok(maxAbsDiff(yRef, yOurs) < 1e-4, "forward");
      const gRef = tf.grads(loss(plain))([x, gamma, beta]);
      const gOurs = tf.grads(loss(fused))([x, gamma, beta]);
      gRef.forEach((r, i) => assert.ok(maxAbsDiff(r, gOurs[i]!) < 1e-3 * Math.max(1, scaleOf(r)), `gradient ${i}: ${maxAbsDiff(r, gOurs[i]!)}`));
      // evaluation mode with the batch's own statistics gives the same values
      const stats = tf.tidy(() => { const m = tf.moments(x, [0, 1, 2, 3]); return { mean: m.mean, variance: m.variance }; });
      const evaluated = tf.tidy(() => {
        const y = relayout(batchNorm(relayout(x as tf.Tensor5D, "last", layout), gamma, beta, stats, 1e-5, layout) as tf.Tensor5D, layout, "last");
        return relu ? tf.relu(y) : y;
      });
      assert.ok(maxAbsDiff(yRef, evaluated) < 1e-4, "evaluation mode");
      tf.dispose([x, gamma, beta, probe, yRef, yOurs, ...gRef, ...gOurs, stats.mean, stats.variance, evaluated]);
    });
  }
}
