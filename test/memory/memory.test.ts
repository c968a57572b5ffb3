import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { momentumUpdate } from "../../src/memory/momentum.ts";
import { FeatureQueue } from "../../src/memory/queue.ts";
import { TagQueue } from "../../src/memory/tagQueue.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { ParamStore } from "../../src/models/params.ts";

before(async () => {
  await selectBackend("wasm");
});

describe("FeatureQueue", () => {
  it("starts L2-normalised, writes FIFO at the pointer and wraps around", () => {
    const queue = new FeatureQueue(5, 2, rngFromSeed(1));
    const norms = tf.tidy(() => Array.from(tf.norm(queue.tensor, "euclidean", 1).dataSync()));
    for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-6);
    const rows = (values: number[]) => tf.tensor2d(values.flatMap((v) => [v, -v]), [values.length, 2]);
    const before = tf.memory().numTensors;
    for (const batch of [[1, 2], [3, 4], [5, 6]]) {
      const keys = rows(batch);
      queue.enqueue(keys);
      keys.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
    // 6 keys into 5 slots: slot 0 was overwritten by key 6, slots 1..4 hold keys 2..5.
    assert.deepEqual(Array.from(queue.tensor.dataSync()).filter((_, i) => i % 2 === 0), [6, 2, 3, 4, 5]);
    assert.equal(queue.pointer, 1);
    assert.equal(queue.filled, 5);
    const wide = tf.zeros([6, 2]) as tf.Tensor2D;
    assert.throws(() => queue.enqueue(wide), (e: unknown) => e instanceof ClipflowError && e.field === "queueSize");
    wide.dispose();
    queue.dispose();
  });
});

describe("TagQueue", () => {
  it("writes at a pointer with wrap-around, matches known tags only, and survives a sync/restore round trip", () => {
    const tags = new TagQueue(4);
    const before = tf.memory().numTensors;
    tags.write(3, [7, 2]);
    assert.deepEqual(Array.from(tags.values), [2, -1, -1, 7]);
    const matches = tags.matches([7, -1, 2, 5]);
    assert.deepEqual(Array.from(matches.dataSync()), [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    const known = tags.known();
    assert.deepEqual(Array.from(known.dataSync()), [1, 0, 0, 1]);
    tf.dispose([matches, known]);
    tags.sync();
    tags.write(0, [9, 9, 9, 9]);
    tags.restore();
    assert.deepEqual(Array.from(tags.values), [2, -1, -1, 7]);
    assert.equal(tf.memory().numTensors, before);
    tags.dispose();
  });
});

describe("momentum encoder", () => {
  for (const simdKernels of [true, false]) {
    it(`θk ← m·θk + (1 − m)·θq on parameters, buffers untouched (${simdKernels ? "clipflow's SIMD kernels" : "tfjs ops"})`, async () => {
      await selectBackend("wasm", undefined, { simdKernels });
      const query = new ParamStore(rngFromSeed(1));
      const key = new ParamStore(rngFromSeed(2));
      for (const store of [query, key]) {
        store.param("w", [7], { kind: "normal", std: 1 });
        store.buffer("running", [3], store === query ? 5 : 7);
      }
      const q = Array.from(query.params.get("w")!.variable.dataSync());
      const k = Array.from(key.params.get("w")!.variable.dataSync());
      momentumUpdate(key, query, 0.9);
      const updated = Array.from(key.params.get("w")!.variable.dataSync());
      updated.forEach((v, i) => assert.ok(Math.abs(v - (0.9 * k[i]! + 0.1 * q[i]!)) < 1e-6));
      assert.deepEqual(Array.from(key.buffers.get("running")!.dataSync()), [7, 7, 7]);
      query.dispose();
      key.dispose();
    });
  }
});
