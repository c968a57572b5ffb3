import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.ts";
import { bytesToUnit, viewTensor } from "../../src/models/task.ts";

test("bytes become x / 255 exactly, on wasm (bytes through a bool tensor) and on cpu, leaving no tensor behind", async () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 * 5 * 3 }, (_, i) => (i * 37 + 11) % 256);
  data[0] = 0;
  data[1] = 255;
  const shape = [2, 3, 4, 5, 3];
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    const expected = tf.tidy(() => tf.div(tf.tensor(data, shape, "int32"), 255).dataSync());
    const before = tf.memory().numTensors;
    const got = bytesToUnit(data, shape);
    assert.deepEqual(got.shape, shape);
    assert.equal(got.dtype, "float32");
    assert.deepEqual(got.dataSync(), expected, backend);
    got.dispose();
    const view = viewTensor({ keys: [], videoIds: [], meta: [], targets: {}, views: { rgb: { data, shape, layout: "BTHWC" } } }, "rgb");
    assert.deepEqual(view.dataSync(), expected);
    view.dispose();
    assert.equal(tf.memory().numTensors, before, `${backend}: nothing left behind`);
  }
  await selectBackend("wasm");
});
