/**
 * S3D (CoCLR's backbone) and the overlapping max pooling it needs, against PyTorch (test/fixtures/scripts/s3d_reference.py):
 * parameter count and output shape of the whole network; max-pool outputs and input gradients of a weighted sum.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { createBackbone, sepConv } from "../../src/models/backbones.ts";
import { channelFirstPays, maxPool3dStrided, type Triple } from "../../src/models/ops.ts";
import { OrtConvEngine } from "../../src/models/ortConv.ts";
import { ParamStore } from "../../src/models/params.ts";

interface Fixture {
  models: Array<{ width: number; parameters: number; outputShape: number[] }>;
  pools: Array<{ shape: [number, number, number, number, number]; window: Triple; stride: Triple; pad: Triple; input: number[]; outputShape: number[]; output: number[]; weights: number[]; gradient: number[] }>;
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/models/s3d.json", import.meta.url), "utf8")) as Fixture;

before(async () => {
  await selectBackend("wasm");
});

describe("S3D", () => {
  for (const reference of fixture.models) {
    it(`width ${reference.width}: PyTorch's parameter count (${reference.parameters}) and 32×128×128 → ${reference.outputShape.slice(1).join("×")}`, () => {
      const store = new ParamStore(rngFromSeed(1));
      const backbone = createBackbone(store, { name: "s3d", width: reference.width, blocks: 1 });
      assert.equal(store.parameterCount(), reference.parameters);
      assert.equal(backbone.channels, reference.outputShape[4]);
      if (reference.width < 1) {
        // the forward pass at width 1 takes seconds on wasm; the shapes are the same at any width
        const shape = tf.tidy(() => backbone.forward(tf.zeros([1, 32, 128, 128, 3]) as tf.Tensor5D, false).shape);
        assert.deepEqual(shape as number[], reference.outputShape);
      }
      store.dispose();
    });
  }

  it("trains: a gradient step on every parameter, no tensor left behind", () => {
    const store = new ParamStore(rngFromSeed(2));
    const backbone = createBackbone(store, { name: "s3d", width: 0.0625, blocks: 1 });
    const x = tf.randomNormal([2, 8, 32, 32, 3]) as tf.Tensor5D;
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(backbone.forward(x, true))) as tf.Scalar, store.trainable());
    const zero = Object.entries(grads).filter(([, g]) => tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) === 0).map(([name]) => name);
    assert.deepEqual(zero, []);
    assert.equal(Object.keys(grads).length, store.trainable().length);
    tf.dispose([value, ...Object.values(grads)]);
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
    store.dispose();
  });
});

describe("S3D's separable convolution with channel-first tensors inside", { skip: typeof OrtConvEngine.load(1) === "string" ? "onnxruntime-node unavailable" : false }, () => {
  for (const [k, s] of [[3, 1], [7, 2]] as const) {
    it(`k ${k}, stride ${s}: the values and gradients of the channel-last path, in training and evaluation mode`, async () => {
      const run = async (planar: boolean) => {
        // ONNX Runtime with clipflow's SIMD kernels passes channel-first tensors; tfjs's own kernels channel-last ones
        await selectBackend("wasm", undefined, planar ? { convolutions: "onnxruntime", threads: 1 } : { convolutions: "tfjs", simdKernels: false });
        assert.equal(channelFirstPays(), planar);
        const store = new ParamStore(rngFromSeed(3));
        const layer = sepConv(store, "sep", 5, 8, k, s);
        const x = tf.tensor(Float32Array.from({ length: 2 * 6 * 12 * 11 * 5 }, (_, i) => Math.sin(i * 0.37)), [2, 6, 12, 11, 5]) as tf.Tensor5D;
        const probe = tf.tidy(() => tf.cos(tf.range(0, layer(x, false).size).reshape(layer(x, false).shape)));
        const before = tf.memory().numTensors;
        const [dx, ...grads] = tf.grads((a: tf.Tensor, ...params: tf.Tensor[]) => tf.sum(tf.mul(layer(a as tf.Tensor5D, true), probe)))([x, ...store.trainable()]);
        const trained = tf.tidy(() => layer(x, true));
        const evaluated = tf.tidy(() => layer(x, false));
        const result = [trained, evaluated, dx!, ...grads].map((t) => t.dataSync().slice());
        tf.dispose([trained, evaluated, dx!, ...grads]);
        assert.equal(tf.memory().numTensors, before, "no tensor leaks");
        tf.dispose([x, probe]);
        store.dispose();
        return result;
      };
      const planar = await run(true);
      const plain = await run(false);
      await selectBackend("wasm");
      planar.forEach((values, i) => {
        const scale = Math.max(...plain[i]!.map(Math.abs));
        values.forEach((v, j) => assert.ok(Math.abs(v - plain[i]![j]!) < 1e-4 * scale, `${["training output", "evaluation output", "dx"][i] ?? `parameter ${i - 3}`}[${j}]: ${v} vs ${plain[i]![j]}`));
      });
    });
  }
});

describe("maxPool3dStrided (overlapping windows, padding)", () => {
  for (const [i, c] of fixture.pools.entries()) {
    it(`case ${i}: window ${c.window.join("×")}, stride ${c.stride.join("×")}, pad ${c.pad.join("×")}: output and gradient match nn.MaxPool3d`, () => {
      const x = tf.tensor(c.input, c.shape) as tf.Tensor5D;
      const weights = tf.tensor(c.weights, c.outputShape);
      const y = maxPool3dStrided(x, c.window, c.stride, c.pad);
      assert.deepEqual(y.shape, c.outputShape);
      const out = y.dataSync();
      c.output.forEach((v, j) => assert.ok(Math.abs(out[j]! - v) < 1e-6, `output ${j}`));
      const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(maxPool3dStrided(input as tf.Tensor5D, c.window, c.stride, c.pad), weights)))(x).dataSync();
      c.gradient.forEach((v, j) => assert.ok(Math.abs(grad[j]! - v) < 1e-5, `gradient ${j}: ${grad[j]} vs ${v}`));
      tf.dispose([x, weights, y]);
    });
  }
});
