import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.ts";
import { labelPositives, minePositives, multiPositiveNce, uberNce } from "../../src/losses/coclr.ts";
import { infoNce } from "../../src/losses/nce.ts";
import { tripletMargin } from "../../src/losses/triplet.ts";
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

describe("CoCLR losses against PyTorch (test/fixtures/scripts/coclr_reference.py)", () => {
  const c = JSON.parse(readFileSync(new URL("../fixtures/models/coclr.json", import.meta.url), "utf8"));
  const [b, k, d] = c.dims as [number, number, number];

  it("mines positives: top-K of the sampler's similarity, siblings added (not mined), self dropped on flagged rows", () => {
    const mask = tf.tidy(() =>
      Array.from(
        minePositives({ samplerKeys: tf.tensor2d(c.gKeys, [b, d]), samplerQueue: tf.tensor2d(c.gQueue, [k, d]), topK: c.topk, siblings: tf.tensor2d(c.siblings, [b, k]), dropSelf: c.drop }).dataSync(),
      ),
    );
    assert.deepEqual(mask, c.mask);
  });

  it("multi-positive NCE −log Σ_{j∈P} p_j and UberNCE match to 1e-5", () => {
    const [multi, uber] = tf.tidy(() => {
      const q = tf.tensor2d(c.q, [b, d]);
      const logits = tf.div(tf.concat([tf.sum(tf.mul(q, tf.tensor2d(c.kpos, [b, d])), 1, true), tf.matMul(q, tf.tensor2d(c.queue, [k, d]), false, true)], 1), c.tau) as tf.Tensor2D;
      const uberMask = labelPositives(tf.tensor1d(c.labels, "int32"), tf.tensor1d(c.queueLabels, "int32"));
      assert.deepEqual(Array.from(uberMask.dataSync()), c.uberMask);
      return [multiPositiveNce(logits, tf.tensor2d(c.mask, [b, 1 + k])).dataSync()[0]!, uberNce(logits, uberMask).dataSync()[0]!];
    });
    close(multi!, c.multiPositive, "multi-positive");
    close(uber!, c.uber, "uber");
  });
});

describe("triplet margin loss", () => {
  it("matches torch.nn.functional.triplet_margin_loss", () => {
    const t = fixture.triplet;
    const [n, d] = t.dims;
    const value = tf.tidy(() => tripletMargin(tf.tensor2d(t.anchor, [n, d]), tf.tensor2d(t.positive, [n, d]), tf.tensor2d(t.negative, [n, d]), t.margin).dataSync()[0]!);
    close(value, t.expected, "triplet");
  });
});
