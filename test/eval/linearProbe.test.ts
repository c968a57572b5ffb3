import assert from "node:assert/strict";
import { test } from "node:test";
import { rngFromSeed } from "../../src/core/rng.ts";
import { linearProbe } from "../../src/eval/linearProbe.ts";
import type { FeatureSet } from "../../src/eval/retrieval.ts";

function clusters(seed: number, perClass: number, classes: number, dim: number, spread: number, randomLabels = false): FeatureSet {
  const rng = rngFromSeed(seed);
  const centres = Array.from({ length: classes }, () => Array.from({ length: dim }, () => rng.normal()));
  const features = new Float32Array(perClass * classes * dim);
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const row = labels.length;
      for (let d = 0; d < dim; d++) features[row * dim + d] = (centres[c]?.[d] as number) + spread * rng.normal();
      labels.push(randomLabels ? rng.int(0, classes - 1) : c);
    }
  }
  return { features, labels, dim };
}

test("separable classes: the probe reaches 100% on held-out data; the loss goes down", () => {
  const train = clusters(1, 30, 4, 16, 0.2);
  const test_ = clusters(1, 10, 4, 16, 0.2); // same centres (same seed), fresh noise draws in a different order
  const result = linearProbe(train, test_, { epochs: 30, seed: 3 });
  assert.equal(result.classes, 4);
  assert.equal(result.trainAccuracy, 1);
  assert.equal(result.accuracy, 1);
  assert.ok(result.finalLoss < 0.2, `loss ${result.finalLoss}`);
});

test("labels unrelated to the features: held-out accuracy stays near chance", () => {
  const train = clusters(2, 40, 4, 8, 1, true);
  const test_ = clusters(9, 40, 4, 8, 1, true);
  const result = linearProbe(train, test_, { epochs: 20, seed: 1 });
  assert.ok(result.accuracy < 0.45, `accuracy ${result.accuracy}`);
});

test("deterministic for a seed; bad labels are typed errors", () => {
  const train = clusters(4, 10, 3, 6, 0.5);
  assert.deepEqual(linearProbe(train, train, { epochs: 5, seed: 7 }), linearProbe(train, train, { epochs: 5, seed: 7 }));
  assert.throws(() => linearProbe({ ...train, labels: Array.from(train.labels, (l, i) => (i === 2 ? -1 : l)) }, train), /label -1 of video 2 is not a class index/);
});
