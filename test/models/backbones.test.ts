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

describe("PRP decoder parameters", () => {
  it("are those of separate ConvTranspose3d and conv3d + BN layers, in creation order, with their shapes", () => {
    const store = new ParamStore(rngFromSeed(3));
    prpDecoder(store, 8);
    const listed = [...store.params].map(([name, info]) => `${name} ${info.variable.shape.join("×")}`);
    const block = (up: string, conv: string, cin: number, cout: number) => [
      `decoder.${up}.weight 2×2×2×${cin}×${cin}`,
      `decoder.${up}.bias ${cin}`,
      `decoder.${conv}.conv.weight 3×3×3×${cin}×${cout}`,
      `decoder.${conv}.bn.weight ${cout}`,
      `decoder.${conv}.bn.bias ${cout}`,
    ];
    assert.deepEqual(listed, [
      "decoder.conv0.conv.weight 3×3×3×8×8",
      "decoder.conv0.bn.weight 8",
      "decoder.conv0.bn.bias 8",
      ...block("up1", "conv1", 8, 4),
      ...block("up2", "conv2", 4, 2),
      ...block("up3", "conv3", 2, 1),
      ...block("up4", "out", 1, 3),
    ]);
    store.dispose();
  });
});

describe("convolution initialisation (backboneConfig.init)", () => {
  const stats = (values: Float32Array) => {
    let sum = 0;
    let squares = 0;
    let largest = 0;
    for (const v of values) {
      sum += v;
      squares += v * v;
      largest = Math.max(largest, Math.abs(v));
    }
    const mean = sum / values.length;
    return { mean, std: Math.sqrt(squares / values.length - mean * mean), largest };
  };
  // layer4.0.conv2 at width 1/2: 3×3×3 kernel, 256 → 256 channels, 1.77 M weights (tight statistics).
  const conv = "backbone.layer4.0.conv2.weight";
  const volume = 27 * 256;

  it("PRP follows its reference: PyTorch's default U(±1/√fan-in) unless told otherwise", async () => {
    const { createPrpTask } = await import("../../src/models/prp.ts");
    const { prpTaskConfig } = await import("../../src/models/config.ts");
    for (const [init, check] of [
      [undefined, "torch"],
      ["torch", "torch"],
      ["kaiming", "kaiming"],
    ] as const) {
      const config = prpTaskConfig.parse({ kind: "prp", backbone: { name: "r3d", width: 0.5, ...(init === undefined ? {} : { init }) }, rates: 3 });
      const task = createPrpTask(config, rngFromSeed(3));
      const { mean, std, largest } = stats(task.store.params.get(conv)!.variable.dataSync() as Float32Array);
      const expected = check === "torch" ? 1 / Math.sqrt(3 * volume) : Math.sqrt(2 / volume);
      assert.ok(Math.abs(mean) < 0.01 * expected, `${init}: mean ${mean}`);
      assert.ok(Math.abs(std / expected - 1) < 0.01, `${init}: std ${std} vs ${expected}`);
      if (check === "torch") assert.ok(largest <= 1 / Math.sqrt(volume), `${init}: |w| ${largest} exceeds the uniform bound`);
      else assert.ok(largest > 1 / Math.sqrt(volume), "kaiming normal weights reach past the uniform bound");
      task.dispose();
    }
  });

  it("the contrastive tasks keep torchvision's kaiming normal by default and take init: torch when asked", async () => {
    const { createVtdlTask } = await import("../../src/models/vtdl.ts");
    const { vtdlTaskConfig } = await import("../../src/models/config.ts");
    for (const [init, expected] of [
      [undefined, Math.sqrt(2 / volume)],
      ["torch", 1 / Math.sqrt(3 * volume)],
    ] as const) {
      const config = vtdlTaskConfig.parse({ kind: "vtdl", backbone: { name: "r3d", width: 0.5, ...(init === undefined ? {} : { init }) } });
      const task = createVtdlTask(config, rngFromSeed(4));
      const { std } = stats(task.store.params.get(conv)!.variable.dataSync() as Float32Array);
      assert.ok(Math.abs(std / expected - 1) < 0.01, `${init}: std ${std} vs ${expected}`);
      task.dispose();
    }
  });
});
