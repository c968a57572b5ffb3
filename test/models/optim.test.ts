import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { rngFromSeed } from "../../src/core/rng.ts";
import { selectBackend } from "../../src/models/backend.ts";
import { optimizerConfig } from "../../src/models/config.ts";
import { Optimizer, Schedule, weightDecayOf } from "../../src/models/optim.ts";
import { ParamStore } from "../../src/models/params.ts";

type Values = { a: number[]; b: number[] };
const fixture = JSON.parse(readFileSync(new URL("../fixtures/models/optim.json", import.meta.url), "utf8")) as {
  init: Values;
  grads: Values[];
  sgd: Values;
  adam: Values;
  adamw: Values;
  plateau: { metrics: number[]; lrs: number[] };
};

function run(config: Record<string, unknown>): Values {
  const store = new ParamStore(rngFromSeed(0));
  const a = store.param("a", [3], { kind: "constant", value: 0 });
  const b = store.param("b", [2], { kind: "constant", value: 0 }, "head");
  a.assign(tf.tensor(fixture.init.a));
  b.assign(tf.tensor(fixture.init.b));
  const optimizer = new Optimizer(optimizerConfig.parse(config), store);
  for (const g of fixture.grads) {
    const grads = { a: tf.tensor(g.a), b: tf.tensor(g.b) };
    optimizer.apply(grads);
    tf.dispose(Object.values(grads));
  }
  const result = { a: Array.from(a.dataSync()), b: Array.from(b.dataSync()) };
  optimizer.dispose();
  store.dispose();
  return result;
}

function close(actual: Values, expected: Values, what: string): void {
  for (const key of ["a", "b"] as const) {
    actual[key].forEach((v, i) => assert.ok(Math.abs(v - expected[key][i]!) < 1e-6, `${what} ${key}[${i}]: ${v} vs ${expected[key][i]}`));
  }
}

for (const simdKernels of [true, false]) {
  describe(`optimisers against torch.optim (test/fixtures/scripts/optim_reference.py), ${simdKernels ? "clipflow's SIMD kernels" : "tfjs ops"}`, () => {
    before(async () => {
      await selectBackend("wasm", undefined, { simdKernels });
    });
    it("SGD with momentum 0.9, weight decay 5e-4 and a 10× parameter group", () => {
      close(run({ kind: "sgd", lr: 0.01, momentum: 0.9, weightDecay: 5e-4, groups: { head: 10 } }), fixture.sgd, "sgd");
    });
    it("Adam with L2 weight decay, and AdamW with decoupled decay", () => {
      close(run({ kind: "adam", lr: 0.01, weightDecay: 1e-3 }), fixture.adam, "adam");
      close(run({ kind: "adam", lr: 0.01, weightDecay: 1e-2, decoupled: true }), fixture.adamw, "adamw");
    });
    it("weight decay defaults per optimiser: 0 for Adam (PyTorch's default), 5e-4 for SGD (METHODS' value)", () => {
      assert.equal(weightDecayOf(optimizerConfig.parse({ kind: "adam" })), 0);
      assert.equal(weightDecayOf(optimizerConfig.parse({ kind: "sgd" })), 5e-4);
      assert.equal(weightDecayOf(optimizerConfig.parse({ kind: "adam", weightDecay: 1e-5 })), 1e-5);
      // The defaults drive the update: SGD unset equals SGD at 5e-4 (the torch fixture); a zero gradient leaves Adam's
      // weights where they are and shrinks SGD's by lr·wd.
      close(run({ kind: "sgd", lr: 0.01, momentum: 0.9, groups: { head: 10 } }), fixture.sgd, "sgd, default decay");
      for (const [kind, factor] of [
        ["adam", 1],
        ["sgd", 1 - 0.01 * 5e-4],
      ] as const) {
        const store = new ParamStore(rngFromSeed(0));
        const a = store.param("a", [2], { kind: "constant", value: 2 });
        const optimizer = new Optimizer(optimizerConfig.parse({ kind, lr: 0.01 }), store);
        const grads = { a: tf.zeros([2]) };
        optimizer.apply(grads);
        for (const v of a.dataSync()) assert.ok(Math.abs(v - 2 * factor) < 1e-7, `${kind}: ${v} vs ${2 * factor}`);
        tf.dispose(Object.values(grads));
        optimizer.dispose();
        store.dispose();
      }
    });
    it("a group at multiplier 0 is frozen", () => {
      const frozen = run({ kind: "sgd", lr: 0.01, groups: { head: 0 } });
      assert.deepEqual(frozen.b, fixture.init.b);
    });
  });
}

describe("parameter updates: clipflow's SIMD kernels equal tfjs's ops bit for bit", () => {
  for (const config of [
    { kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 5e-4 },
    { kind: "sgd", lr: 0.05, momentum: 0 },
    { kind: "adam", lr: 0.01, weightDecay: 1e-3 },
    { kind: "adam", lr: 0.01, weightDecay: 1e-2, decoupled: true },
  ]) {
    it(`${JSON.stringify(config)}, 4 steps on 11 values (SIMD lanes and a scalar tail)`, async () => {
      const result: number[][] = [];
      for (const simdKernels of [true, false]) {
        await selectBackend("wasm", undefined, { simdKernels });
        const store = new ParamStore(rngFromSeed(3));
        const w = store.param("w", [11], { kind: "normal", std: 1 });
        const optimizer = new Optimizer(optimizerConfig.parse(config), store);
        const rng = rngFromSeed(4);
        const before = tf.memory().numTensors;
        for (let step = 0; step < 4; step += 1) {
          const grads = { w: tf.tensor(Array.from({ length: 11 }, () => rng.normal())) };
          optimizer.apply(grads);
          tf.dispose(Object.values(grads));
        }
        // the slots are made on the first step; nothing else stays
        assert.equal(tf.memory().numTensors, before + (config.kind === "adam" ? 2 : config.momentum === 0 ? 0 : 1));
        result.push(Array.from(w.dataSync()));
        optimizer.dispose();
        store.dispose();
      }
      assert.deepEqual(result[0], result[1]);
    });
  }
});

describe("schedules", () => {
  it("ReduceLROnPlateau (mode min, patience 2, factor 0.1, min 1e-3) matches torch step by step", () => {
    const schedule = new Schedule({ kind: "plateau", patience: 2, factor: 0.1, minLr: 1e-3, threshold: 1e-4 }, 1);
    let lr = 1;
    const lrs = fixture.plateau.metrics.map((m) => (lr = schedule.observe(m, lr)));
    lrs.forEach((v, i) => assert.ok(Math.abs(v - fixture.plateau.lrs[i]!) < 1e-12, `step ${i}: ${v} vs ${fixture.plateau.lrs[i]}`));
  });
  it("multi-step with warm-up: linear ramp, then ×gamma at each milestone", () => {
    const schedule = new Schedule({ kind: "multiStep", milestones: [3, 5], gamma: 0.1, warmup: 2 }, 0.1);
    assert.deepEqual([0, 1].map((e) => schedule.lrAt(e, 0, 0, 1)), [0.05, 0.1]);
    assert.deepEqual([2, 3, 4, 5].map((e) => +schedule.lrAt(e, 0).toPrecision(6)), [0.1, 0.01, 0.01, 0.001]);
  });
});
