import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { activeBackend, selectBackend } from "../../src/models/backend.ts";
import { matMul } from "../../src/models/ops.ts";
import { forwardGraph, OrtConvEngine, outputShape, type ConvGeometry } from "../../src/models/ortConv.ts";
import { onnxModel } from "../../src/models/onnx.ts";
import { trainSection } from "../../src/models/config.ts";
import { itMatchesReference, itPoolsLikePyTorch, itUpsamplesLikeTwoLayers, maxAbsDiff, random, scaleOf } from "./convReference.ts";

// onnxruntime-node is optional: without it these checks are skipped (the tfjs path is tested in ops.test.ts)
const probe = OrtConvEngine.load(1);
const missing = typeof probe === "string" ? `onnxruntime-node unavailable: ${probe}` : false;
if (typeof probe !== "string") probe.dispose();

describe("convolutions on ONNX Runtime", { skip: missing }, () => {
  before(async () => {
    // ORT's own pooling is checked here, so clipflow's SIMD kernels (which take precedence) are off
    const choice = await selectBackend("wasm", undefined, { convolutions: "onnxruntime", threads: 2, simdKernels: false });
    assert.ok(choice.ort !== undefined);
    assert.ok(choice.reasons.some((r) => r.startsWith("convolutions: onnxruntime-node")));
  });

  itMatchesReference("ONNX Runtime");
  // layers that pass channel-first tensors (S3D's separable convolutions): every pass, every pairing of layouts
  itMatchesReference("ONNX Runtime", { x: "last", y: "first" });
  itMatchesReference("ONNX Runtime", { x: "first", y: "last" });
  itMatchesReference("ONNX Runtime", { x: "first", y: "first" });
  itUpsamplesLikeTwoLayers("ONNX Runtime");
  itPoolsLikePyTorch("ONNX Runtime");

  it("matMul on ORT's GEMM (every transpose combination): value and both gradients equal tfjs's", () => {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const [m, k, n] = [700, 24, 40]; // m·n·k above the size at which products go to ORT
      const a = random(transA ? [k, m] : [m, k], 11);
      const b = random(transB ? [n, k] : [k, n], 12);
      const weights = random([m, n], 13);
      const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), weights));
      const ours = tf.grads(loss((x, y) => matMul(x, y, transA, transB)))([a, b]);
      const theirs = tf.grads(loss((x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D, transA, transB)))([a, b]);
      const y0 = matMul(a, b, transA, transB);
      const y1 = tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transA, transB);
      for (const [o, r, what] of [[y0, y1, "value"], [ours[0]!, theirs[0]!, "dA"], [ours[1]!, theirs[1]!, "dB"]] as const) {
        assert.ok(maxAbsDiff(r, o) < 1e-5 * scaleOf(r), `${transA}/${transB} ${what}: ${maxAbsDiff(r, o)} of ${scaleOf(r)}`);
      }
      tf.dispose([a, b, weights, y0, y1, ...ours, ...theirs]);
    }
  });

  it("switches back to tfjs kernels when asked, and to ORT again", async () => {
    assert.equal((await selectBackend("wasm", undefined, { convolutions: "tfjs" })).ort, undefined);
    assert.ok((await selectBackend("wasm", undefined, { convolutions: "onnxruntime", threads: 2, simdKernels: false })).ort !== undefined);
    assert.equal(activeBackend().convolutions, "onnxruntime");
  });

  it("a graph ORT rejects is a KernelError naming the graph, not a crash", () => {
    const engine = activeBackend().ort!;
    const g: ConvGeometry = { input: [1, 2, 3, 3, 2], kernel: [1, 1, 1], cout: 2, stride: [1, 1, 1], pad: [0, 0, 0] };
    const x = tf.zeros(g.input);
    const bad = () => ({ ...forwardGraph(g), nodes: [{ op: "NoSuchOp", inputs: ["x"], outputs: ["y"] }] });
    assert.throws(() => engine.run(["test:bad", bad], { x }, "y", outputShape(g)), (e: Error & { tag?: string }) => e.tag === "KernelError" && /test:bad/.test(e.message) && /NoSuchOp/.test(e.message));
    x.dispose();
  });
});

describe("ONNX graphs and the convolutions setting", () => {
  it("onnxModel writes a ModelProto: IR 8, opset 17, the nodes and the int64 constants", () => {
    const bytes = onnxModel({ nodes: [{ op: "Reshape", inputs: ["x", "s"], outputs: ["y"] }], inputs: [{ name: "x", shape: [2, 3] }], outputs: [{ name: "y", shape: [3, 2] }], constants: { s: [3, 2] } });
    // field 1 (ir_version, varint) = 8 opens the message; the op type and producer are in the bytes as UTF-8
    assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 8]);
    const text = Buffer.from(bytes).toString("latin1");
    assert.ok(text.includes("Reshape") && text.includes("clipflow"));
  });

  it("train.convolutions accepts auto, onnxruntime and tfjs (default auto) and rejects anything else", () => {
    const base = { task: { kind: "prp", backbone: { name: "r3d" } } };
    assert.equal(trainSection.parse(base).convolutions, "auto");
    assert.equal(trainSection.parse({ ...base, convolutions: "tfjs" }).convolutions, "tfjs");
    assert.equal(trainSection.safeParse({ ...base, convolutions: "gpu" }).success, false);
  });
});
