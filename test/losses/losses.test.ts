import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.ts";
import { infoNce } from "../../src/losses/nce.ts";
import { crossEntropy, prpLoss } from "../../src/losses/prp.ts";

const fixture = JSON.parse(readFileSync(new URL("../fixtures/models/losses.json", import.meta.url), "utf8"));

function close(actual: number, expected: number, what: string): void {
  const rel = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-12);
  // float32 tensors against float64 torch: relative error < 1e-5.
  assert.ok(rel < 1e-5, `${what}: ${actual} vs ${expected} (relative error ${rel})`);
}

before(async () => {
  await selectBackend("wasm");
});

describe("losses against PyTorch (test/fixtures/scripts/loss_reference.py)", () => {
  it("PRP: motion-weighted MSE on flagged frames + 0.1 · CE", () => {
    const p = fixture.prp;
    const start = tf.memory().numTensors;
    const values = tf.tidy(() => {
      const { loss, terms } = prpLoss({
        reconstruction: tf.tensor(p.reconstruction, p.shape),
        target: tf.tensor(p.target, p.shape),
        weight: tf.tensor(p.weight, p.shape),
        flags: tf.tensor2d(p.flags, [p.shape[0], p.shape[1]]),
        logits: tf.tensor2d(p.logits, [p.shape[0], 4]),
        labels: tf.tensor1d(p.labels, "int32"),
      });
      return { loss: loss.dataSync()[0]!, reconstruction: terms.reconstruction!.dataSync()[0]!, classification: terms.classification!.dataSync()[0]! };
    });
    close(values.loss, p.expected.loss, "loss");
    close(values.reconstruction, p.expected.reconstruction, "reconstruction");
    close(values.classification, p.expected.classification, "classification");
    assert.equal(tf.memory().numTensors, start);
  });

  it("InfoNCE with a queue (MoCo) and with VTDL's extra negative", () => {
    const n = fixture.nce;
    const [b, d, k] = n.dims;
    const [moco, vtdl] = tf.tidy(() => {
      const base = { query: tf.tensor2d(n.query, [b, d]), key: tf.tensor2d(n.key, [b, d]), queue: tf.tensor2d(n.queue, [k, d]) };
      return [infoNce(base).loss.dataSync()[0]!, infoNce({ ...base, negative: tf.tensor2d(n.negative, [b, d]) }).loss.dataSync()[0]!];
    });
    close(moco!, n.expected.moco, "moco");
    close(vtdl!, n.expected.vtdl, "vtdl");
  });

  it("cross-entropy ignores label −1 like ignore_index", () => {
    const c = fixture.ceIgnore;
    const value = tf.tidy(() => crossEntropy(tf.tensor2d(c.logits, [4, 3]), tf.tensor1d(c.labels, "int32")).dataSync()[0]!);
    close(value, c.expected, "ce");
  });

  it("PRP's gradient reaches only flagged frames", () => {
    const shape = [1, 4, 2, 2, 3];
    const target = tf.zeros(shape);
    const recon = tf.ones(shape);
    const g = tf.grad((r: tf.Tensor) =>
      prpLoss({ reconstruction: r, target, weight: tf.onesLike(target), flags: tf.tensor2d([[1, 0, 1, 0]]), logits: tf.zeros([1, 4]) as tf.Tensor2D, labels: tf.tensor1d([0], "int32") }).loss,
    )(recon);
    const perFrame = tf.tidy(() => Array.from(tf.sum(tf.abs(g), [0, 2, 3, 4]).dataSync()));
    assert.deepEqual(perFrame.map((v) => v > 0), [true, false, true, false]);
    tf.dispose([target, recon, g]);
  });
});
