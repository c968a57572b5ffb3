import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.ts";
import { addBias, batchNorm, batchNormTrain, conv2dValid, conv3d, convTranspose3dStride2, maxPool3d, type Triple } from "../../src/models/ops.ts";
import { rngFromSeed } from "../../src/core/rng.ts";

function random(shape: number[], seed: number): tf.Tensor {
  const rng = rngFromSeed(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Infinity);
}

function scaleOf(t: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0] ?? 1);
}

before(async () => {
  await selectBackend("wasm");
});

describe("conv3d through folded conv2d", () => {
  const cases: Array<{ name: string; x: number[]; k: number[]; stride: Triple; pad: Triple }> = [
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
  ];
  for (const c of cases) {
    it(`${c.name}: value and both gradients equal the cpu backend's tf.conv3d`, async () => {
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
      const ours = (xi: tf.Tensor, wi: tf.Tensor) => conv3d(xi as tf.Tensor5D, tf.transpose(wi, [1, 2, 0, 3, 4]) as tf.Tensor5D, c.stride, c.pad);
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
});

describe("conv3d on data (inputGradient false)", () => {
  it("gives the same value and filter gradient, and zeros for the input gradient", () => {
    const x = random([2, 4, 9, 9, 3], 5) as tf.Tensor5D;
    const w = random([7, 7, 3, 3, 4], 6) as tf.Tensor5D;
    const before = tf.memory().numTensors;
    const run = (inputGradient: boolean) =>
      tf.tidy(() => {
        const f = (xi: tf.Tensor, wi: tf.Tensor) => conv3d(xi as tf.Tensor5D, wi as tf.Tensor5D, [1, 2, 2], [1, 3, 3], inputGradient);
        const y = f(x, w);
        const probe = random([...y.shape], 7);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), probe)))([x, w]);
        return [y, gx!, gw!];
      });
    const [y1, gx1, gw1] = run(true);
    const [y0, gx0, gw0] = run(false);
    assert.deepEqual(Array.from(y0!.dataSync()), Array.from(y1!.dataSync()));
    assert.deepEqual(Array.from(gw0!.dataSync()), Array.from(gw1!.dataSync()));
    assert.ok(scaleOf(gx1!) > 0.1);
    assert.equal(scaleOf(gx0!), 0);
    tf.dispose([y1!, gx1!, gw1!, y0!, gx0!, gw0!]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, w]);
  });
});

describe("conv2dValid gradient", () => {
  it("matches central finite differences (float64 rounding allowance)", () => {
    const x = random([1, 5, 6, 2], 4) as tf.Tensor4D;
    const w = random([3, 2, 2, 2], 5) as tf.Tensor4D;
    const probe = random([1, 2, 3, 2], 6);
    const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dValid(a as tf.Tensor4D, b as tf.Tensor4D, 2, 2), probe));
    const [gx, gw] = tf.grads(f)([x, w]);
    const h = 1e-2;
    for (const [which, tensor, grad] of [[0, x, gx!], [1, w, gw!]] as const) {
      const values = Float32Array.from(tensor.dataSync());
      const analytic = grad.dataSync();
      for (let i = 0; i < values.length; i += 3) {
        const plus = values.slice();
        plus[i] = plus[i]! + h;
        const minus = values.slice();
        minus[i] = minus[i]! - h;
        const args = (v: Float32Array) => (which === 0 ? [tf.tensor(v, x.shape), w] : [x, tf.tensor(v, w.shape)]) as [tf.Tensor, tf.Tensor];
        const numeric = tf.tidy(() => (f(...args(plus)).dataSync()[0]! - f(...args(minus)).dataSync()[0]!) / (2 * h));
        assert.ok(Math.abs(numeric - analytic[i]!) < 2e-3 * Math.max(1, Math.abs(numeric)), `${which === 0 ? "dx" : "dw"}[${i}]: ${numeric} vs ${analytic[i]}`);
      }
    }
    tf.dispose([x, w, probe, gx!, gw!]);
  });
});

async function onCpu(fn: () => tf.Tensor): Promise<tf.Tensor> {
  await tf.setBackend("cpu");
  const result = tf.tidy(() => {
    const t = fn();
    return { data: Float32Array.from(t.dataSync()), shape: t.shape };
  });
  await tf.setBackend("wasm");
  return tf.tensor(result.data, result.shape);
}

describe("pooling and transposed convolution", () => {
  it("maxPool3d equals tf.maxPool3d (floor mode) and passes gradient to the max only", async () => {
    const reference = await onCpu(() => tf.maxPool3d(random([2, 5, 6, 7, 3], 7).slice([0, 0, 0, 0, 0], [2, 4, 6, 6, 3]) as tf.Tensor5D, 2, 2, "valid"));
    const x = random([2, 5, 6, 7, 3], 7) as tf.Tensor5D;
    const ours = tf.tidy(() => maxPool3d(x, [2, 2, 2]));
    assert.equal(maxAbsDiff(ours, reference), 0);
    const g = tf.grad((a: tf.Tensor) => tf.sum(maxPool3d(a as tf.Tensor5D, [1, 2, 2])))(x);
    assert.equal(tf.sum(g).dataSync()[0], 2 * 5 * 3 * 3 * 3);
    tf.dispose([x, ours, reference, g]);
  });

  it("convTranspose3dStride2 equals tf.conv3dTranspose with kernel 2 stride 2", async () => {
    // tf.conv3dTranspose takes the filter as [d, h, w, outChannels, inChannels].
    const reference = await onCpu(() =>
      tf.conv3dTranspose(random([2, 2, 3, 2, 4], 8) as tf.Tensor5D, tf.transpose(random([2, 2, 2, 4, 3], 9), [0, 1, 2, 4, 3]) as tf.Tensor5D, [2, 4, 6, 4, 3], 2, "valid"),
    );
    const x = random([2, 2, 3, 2, 4], 8) as tf.Tensor5D;
    const w = random([2, 2, 2, 4, 3], 9) as tf.Tensor5D;
    const ours = tf.tidy(() => convTranspose3dStride2(x, w));
    assert.ok(maxAbsDiff(ours, reference) < 1e-5);
    tf.dispose([x, w, ours, reference]);
  });
});

describe("fused batch norm (training mode)", () => {
  // 6 and 3 channels take the spread path of the per-channel factors, 16 the broadcasting one
  for (const [relu, channels] of [[false, 6], [true, 6], [true, 3], [false, 16], [true, 16]] as const) {
    it(`value and gradients equal autodiff of the plain formula${relu ? " with ReLU" : ""}, ${channels} channels`, () => {
      const x = random([2, 3, 4, 5, channels], 10);
      const gamma = random([channels], 11);
      const beta = random([channels], 12);
      const probe = random([2, 3, 4, 5, channels], 13);
      const plain = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2, 3]);
        const y = tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
        return relu ? tf.relu(y) : y;
      };
      const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        const out = batchNormTrain(a, g, b, relu);
        tf.dispose([out.mean, out.variance]);
        return out.y;
      };
      const loss = (f: typeof plain) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), probe));
      const [yRef, yOurs] = [tf.tidy(() => plain(x, gamma, beta)), tf.tidy(() => fused(x, gamma, beta))];
      assert.ok(maxAbsDiff(yRef, yOurs) < 1e-4, "forward");
      const gRef = tf.grads(loss(plain))([x, gamma, beta]);
      const gOurs = tf.grads(loss(fused))([x, gamma, beta]);
      gRef.forEach((r, i) => assert.ok(maxAbsDiff(r, gOurs[i]!) < 1e-3 * Math.max(1, scaleOf(r)), `gradient ${i}: ${maxAbsDiff(r, gOurs[i]!)}`));
      // evaluation mode with the batch's own statistics gives the same values
      const stats = tf.tidy(() => { const m = tf.moments(x, [0, 1, 2, 3]); return { mean: m.mean, variance: m.variance }; });
      const evaluated = tf.tidy(() => { const y = batchNorm(x, gamma, beta, stats); return relu ? tf.relu(y) : y; });
      assert.ok(maxAbsDiff(yRef, evaluated) < 1e-4, "evaluation mode");
      tf.dispose([x, gamma, beta, probe, yRef, yOurs, ...gRef, ...gOurs, stats.mean, stats.variance, evaluated]);
    });
  }
});

describe("addBias", () => {
  for (const channels of [3, 16]) {
    it(`equals x + b with the gradient of autodiff (${channels} channels)`, () => {
      const x = random([2, 3, 4, 5, channels], 20);
      const b = random([channels], 21);
      const probe = random([2, 3, 4, 5, channels], 22);
      const before = tf.memory().numTensors;
      const [yRef, yOurs] = [tf.tidy(() => tf.add(x, b)), tf.tidy(() => addBias(x, b))];
      assert.ok(maxAbsDiff(yRef, yOurs) < 1e-6);
      const gRef = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(tf.add(a, c), probe)))([x, b]);
      const gOurs = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(addBias(a, c), probe)))([x, b]);
      gRef.forEach((r, i) => assert.ok(maxAbsDiff(r, gOurs[i]!) < 1e-4 * Math.max(1, scaleOf(r)), `gradient ${i}`));
      tf.dispose([yRef, yOurs, ...gRef, ...gOurs]);
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([x, b, probe]);
    });
  }
});
