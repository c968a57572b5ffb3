import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { createBackbone, midChannels } from "../../src/models/backbones.ts";
import { prpClassifier, prpDecoder } from "../../src/models/heads.ts";
import { ParamStore } from "../../src/models/params.ts";

before(async () => {
  await selectBackend("wasm");
});

describe("backbones", () => {
  for (const name of ["c3d", "r3d", "r2plus1d"] as const) {
    it(`${name} maps 16×112×112 to 512×2×7×7 at width 1 (PRP's encoders)`, () => {
      const store = new ParamStore(rngFromSeed(1));
      const backbone = createBackbone(store, { name, width: 1, blocks: 1 });
      const shape = tf.tidy(() => backbone.forward(tf.zeros([1, 16, 112, 112, 3]) as tf.Tensor5D, false).shape);
      assert.deepEqual(shape, [1, 2, 7, 7, 512]);
      assert.equal(backbone.channels, 512);
      store.dispose();
    });
  }

  it("R3D-18 has torchvision r3d_18's parameter count without its fc (33,371,472 − 205,200)", () => {
    const store = new ParamStore(rngFromSeed(1));
    createBackbone(store, { name: "r3d", width: 1, blocks: 2 });
    assert.equal(store.parameterCount(), 33166272);
    store.dispose();
  });

  it("(2+1)D middle width follows floor(t·d²·Cin·Cout / (d²·Cin + t·Cout))", () => {
    assert.equal(midChannels(64, 64), 144);
    assert.equal(midChannels(64, 128), 230);
    assert.equal(midChannels(3, 64), 23);
  });

  it("PRP heads: 4 logits and a 32×112×112×3 reconstruction from 512×2×7×7", () => {
    const store = new ParamStore(rngFromSeed(2));
    const classify = prpClassifier(store, 8, 4);
    const decode = prpDecoder(store, 8);
    const [logits, recon] = tf.tidy(() => {
      const feature = tf.randomNormal([1, 2, 7, 7, 8]) as tf.Tensor5D;
      return [classify(feature, true).shape, decode(feature, true).shape];
    });
    assert.deepEqual(logits, [1, 4]);
    assert.deepEqual(recon, [1, 32, 112, 112, 3]);
    store.dispose();
  });
});
