import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.ts";
import { addBias, batchNorm, batchNormTrain, conv2dValid, conv3d, convTranspose3dStride2, maxPool3d, type Triple } from "../../src/models/ops.ts";
import { itMatchesReference, itNormalisesLikeTheFormula, itPoolsLikePyTorch, itUpsamplesLikeTwoLayers, maxAbsDiff, random, scaleOf } from "./convReference.ts";

before(async () => {
  // this file checks tfjs's own kernels; test/models/ortConv.test.ts checks the ONNX Runtime path and
  // test/models/simdKernels.test.ts clipflow's SIMD kernels
  await selectBackend("wasm", undefined, { convolutions: "tfjs", simdKernels: false });
});

describe("conv3d through folded conv2d", () => {
  itMatchesReference("tfjs's folded conv2d");
  // channel-first tensors are brought to channel-last and back on this path
  itMatchesReference("tfjs's folded conv2d", { x: "first", y: "first" });
  itUpsamplesLikeTwoLayers("tfjs's folded conv2d");
  itPoolsLikePyTorch("tfjs's folded conv2d");
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

describe("fused batch norm (training mode) on tfjs ops", () => {
  itNormalisesLikeTheFormula("tfjs ops");
  itNormalisesLikeTheFormula("tfjs ops", "first");
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
