import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { activeBackend, selectBackend } from "../../src/models/backend.ts";
import { rngFromSeed } from "../../src/core/rng.ts";
import { batchNormLayer, conv3dLayer } from "../../src/models/layers.ts";
import { batchNormTrain, maxPool3dStrided, relayout } from "../../src/models/ops.ts";
import { ParamStore } from "../../src/models/params.ts";
import { SIMD_KERNELS_FILE } from "../../src/models/simdKernels.ts";
import { itNormalisesLikeTheFormula, itPoolsLikePyTorch, random } from "./convReference.ts";

const root = join(import.meta.dirname, "..", "..");

/** The section ids of a WebAssembly binary, in order. */
function sections(bytes: Uint8Array): number[] {
  assert.deepEqual([...bytes.subarray(0, 8)], [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
  const ids: number[] = [];
  let at = 8;
  const leb = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]!;
      value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value;
    }
  };
  while (at < bytes.length) {
    ids.push(bytes[at++]!);
    const size = leb();
    at += size;
  }
  return ids;
}

describe("clipflow's SIMD kernels (wasm backend)", () => {
  before(async () => {
    const choice = await selectBackend("wasm", undefined, { convolutions: "tfjs", simdKernels: true });
    assert.ok(choice.simd !== undefined, choice.reasons.join("; "));
    assert.ok(choice.reasons.includes("kernels: clipflow's SIMD batch normalisation, max pooling and parameter updates"));
  });

  itPoolsLikePyTorch("clipflow's SIMD kernels");
  itNormalisesLikeTheFormula("clipflow's SIMD kernels");
  itNormalisesLikeTheFormula("clipflow's SIMD kernels", "first");

  it("batch norm statistics over many rows (f64 carries) equal a float64 computation, with no tensor leaks", () => {
    const [rows, channels] = [4 * 8 * 16 * 16, 20];
    const x = tf.add(tf.mul(random([4, 8, 16, 16, channels], 41), 3), 100); // a large mean: the centred second pass matters
    const gamma = random([channels], 42);
    const beta = random([channels], 43);
    const before = tf.memory().numTensors;
    const { y, mean, variance } = batchNormTrain(x, gamma, beta, false);
    const data = x.dataSync();
    const [m, v, g, b, out] = [mean.dataSync(), variance.dataSync(), gamma.dataSync(), beta.dataSync(), y.dataSync()];
    for (let c = 0; c < channels; c += 1) {
      let sum = 0;
      for (let r = 0; r < rows; r += 1) sum += data[r * channels + c]!;
      const mu = sum / rows;
      let sq = 0;
      for (let r = 0; r < rows; r += 1) sq += (data[r * channels + c]! - mu) ** 2;
      const sigma2 = sq / rows;
      assert.ok(Math.abs(m[c]! - mu) < 1e-5 * Math.abs(mu), `mean ${c}: ${m[c]} vs ${mu}`);
      assert.ok(Math.abs(v[c]! - sigma2) < 1e-4 * sigma2, `variance ${c}: ${v[c]} vs ${sigma2}`);
      const r0 = 7;
      const expected = ((data[r0 * channels + c]! - mu) / Math.sqrt(sigma2 + 1e-5)) * g[c]! + b[c]!;
      assert.ok(Math.abs(out[r0 * channels + c]! - expected) < 1e-3, `y ${c}`);
    }
    tf.dispose([y, mean, variance]);
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, gamma, beta]);
  });

  for (const simdKernels of [true, false]) {
    it(`a batch norm layer's running statistics follow PyTorch (momentum 0.1, unbiased variance; ${simdKernels ? "SIMD kernels" : "tfjs ops"})`, async () => {
      await selectBackend("wasm", undefined, { convolutions: "tfjs", simdKernels });
      const store = new ParamStore(rngFromSeed(5));
      const layer = batchNormLayer(store, "bn", 3);
      const batches = [random([2, 2, 3, 1, 3], 50), random([2, 2, 3, 1, 3], 51)];
      const mean = [0, 0, 0];
      const variance = [1, 1, 1];
      for (const x of batches) {
        tf.dispose(layer(x as tf.Tensor5D, true));
        const data = x.dataSync();
        const rows = data.length / 3;
        for (let c = 0; c < 3; c += 1) {
          let mu = 0;
          for (let r = 0; r < rows; r += 1) mu += data[r * 3 + c]! / rows;
          let sq = 0;
          for (let r = 0; r < rows; r += 1) sq += (data[r * 3 + c]! - mu) ** 2;
          mean[c] = 0.9 * mean[c]! + 0.1 * mu;
          variance[c] = 0.9 * variance[c]! + 0.1 * (sq / (rows - 1));
        }
      }
      const [m, v] = [store.buffers.get("bn.running_mean")!.dataSync(), store.buffers.get("bn.running_var")!.dataSync()];
      for (let c = 0; c < 3; c += 1) {
        assert.ok(Math.abs(m[c]! - mean[c]!) < 1e-6, `running mean ${c}: ${m[c]} vs ${mean[c]}`);
        assert.ok(Math.abs(v[c]! - variance[c]!) < 1e-5, `running variance ${c}: ${v[c]} vs ${variance[c]}`);
      }
      tf.dispose(batches);
      store.dispose();
      await selectBackend("wasm", undefined, { convolutions: "tfjs" });
    });
  }

  it("max pooling's gradient goes to the first maximum in (t, h, w) order on ties, as PyTorch's", () => {
    // all zeros: every window's maximum is tied, and its first valid position is (max(o − 1, 0)) along each axis
    const x = tf.zeros([1, 3, 3, 4, 2]) as tf.Tensor5D;
    const dx = tf.grad((a: tf.Tensor) => tf.sum(maxPool3dStrided(a as tf.Tensor5D, [3, 3, 3], [1, 1, 1], [1, 1, 1])))(x);
    const expected = new Float32Array(3 * 3 * 4 * 2);
    for (let t = 0; t < 3; t += 1)
      for (let h = 0; h < 3; h += 1)
        for (let w = 0; w < 4; w += 1)
          for (let c = 0; c < 2; c += 1) {
            const at = ((Math.max(t - 1, 0) * 3 + Math.max(h - 1, 0)) * 4 + Math.max(w - 1, 0)) * 2 + c;
            expected[at] = expected[at]! + 1;
          }
    assert.deepEqual([...dx.dataSync()], [...expected]);
    tf.dispose([x, dx]);
  });

  it("a convolution layer with a bias gives the same channel-first output as channel-last", () => {
    const store = new ParamStore(rngFromSeed(6));
    const layer = conv3dLayer(store, "conv", { cin: 3, cout: 5, kernel: [1, 3, 3], pad: [0, 1, 1], bias: true });
    store.params.get("conv.bias")!.variable.assign(tf.tensor([1, -2, 3, 0.5, -1]));
    const x = random([1, 2, 4, 4, 3], 60) as tf.Tensor5D;
    const last = tf.tidy(() => layer(x, true));
    const first = tf.tidy(() => relayout(layer(x, true, { x: "last", y: "first" }), "first", "last"));
    assert.deepEqual([...first.dataSync()].map((v) => +v.toFixed(5)), [...last.dataSync()].map((v) => +v.toFixed(5)));
    tf.dispose([x, last, first]);
    store.dispose();
  });

  it("a pooling window that does not fit is a ConfigError naming the window", () => {
    const x = tf.zeros([1, 2, 4, 4, 4]) as tf.Tensor5D;
    assert.throws(() => maxPool3dStrided(x, [3, 3, 3], [1, 1, 1], [0, 0, 0]), (e: Error & { tag?: string; field?: string }) => e.tag === "ConfigError" && e.field === "window" && /3×3×3/.test(e.message));
    x.dispose();
  });

  it("switches to tfjs's ops when asked, and back", async () => {
    const off = await selectBackend("wasm", undefined, { convolutions: "tfjs", simdKernels: false });
    assert.equal(off.simd, undefined);
    assert.ok(off.reasons.includes("kernels: tfjs wasm ops (asked for)"));
    assert.ok((await selectBackend("wasm", undefined, { convolutions: "tfjs" })).simd !== undefined);
    assert.equal(activeBackend().reasons.filter((r) => r.startsWith("kernels:")).length, 1);
  });

  it("the committed module is what assembly/ compiles to, imports only tfjs's memory and has no data segment", () => {
    const out = mkdtempSync(join(tmpdir(), "clipflow-asc-"));
    try {
      const built = join(out, "kernels.wasm");
      const asc = spawnSync(process.execPath, [join(root, "node_modules", "assemblyscript", "bin", "asc.js"), "--config", join(root, "assembly", "asconfig.json"), "--outFile", built], { cwd: root, encoding: "utf8" });
      assert.equal(asc.status, 0, asc.stderr);
      const committed = readFileSync(SIMD_KERNELS_FILE);
      assert.ok(Buffer.compare(readFileSync(built), committed) === 0, "src/models/simdKernels.wasm is stale: run npm run build:wasm");
      const ids = sections(committed);
      assert.ok(!ids.includes(11), "a data section would be written into tfjs's heap");
      assert.ok(!ids.includes(8), "no start function");
      const wasm = (globalThis as unknown as { WebAssembly: { Module: { new (b: Uint8Array): object; imports(m: object): Array<{ module: string; name: string; kind: string }> } } }).WebAssembly;
      assert.deepEqual(wasm.Module.imports(new wasm.Module(committed)), [{ module: "env", name: "memory", kind: "memory" }]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
