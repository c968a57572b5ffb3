/**
 * 3D convolutions on ONNX Runtime's CPU kernels (MLAS: AVX2/AVX-512 GEMMs on all cores) for the wasm and cpu tfjs
 * backends, whose own convolutions run on one core at 128-bit SIMD (XNNPACK) or in plain JavaScript. onnxruntime-node
 * ships its native library inside the npm package (nothing is downloaded), so it is an optional dependency that
 * installs offline; when it is missing the tfjs path is used.
 *
 * Three graphs per layer shape, each built once and cached as a session:
 * - forward: NDHWC → NCDHW, Conv, back to NDHWC (clipflow's tensors are channel-last, ONNX's Conv is channel-first);
 *   a layer may instead take or give channel-first tensors (`ConvGeometry.layouts`; S3D's separable convolutions),
 *   which skips that transpose in every pass that touches the tensor;
 * - input gradient: at stride 1 a forward Conv of dy with the filter flipped in space and in/out swapped, padded by
 *   k − 1 − p (ORT's 3D ConvTranspose, the textbook form, measured 6× slower than its Conv); with one axis at stride 2
 *   the same Conv on dy spread with zeros; other strided layers use ConvTranspose with the output padding that
 *   restores the input size;
 * - filter gradient: one GEMM per tap over the output positions (see filterGradientGraph; faster than the "batch and
 *   channels swapped" Conv whose kernel is the whole of dy: 638 vs 789 ms on four C3D layers), except on the strided
 *   stems (3 input channels), where that Conv is faster;
 * A 1×1×1 convolution at stride 1 is a plain MatMul in all three. `gemmGraph` serves large 2D products (ops.ts matMul).
 *
 * Tensors cross without copies on wasm: ORT reads its inputs from, and writes its output into, the wasm heap (the
 * output tensor is allocated first, so that no allocation moves the heap while views into it are live).
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import { onnxModel, type OnnxGraph, type OnnxNode } from "./onnx.ts";

export type Triple = [number, number, number];

interface OrtTensor {
  data: Float32Array;
  dims: readonly number[];
}
interface OrtSession {
  loadModel(buffer: ArrayBufferLike, offset: number, length: number, options: object): void;
  run(feeds: Record<string, OrtTensor>, fetches: Record<string, OrtTensor | null>, options: object): Record<string, OrtTensor>;
  dispose(): void;
}
interface OrtBinding {
  binding: { InferenceSession: new () => OrtSession };
  initOrt(): void;
}
type TensorClass = new (type: "float32", data: Float32Array, dims: readonly number[]) => OrtTensor;

/** How an activation tensor is laid out: channel-last [n,t,h,w,c] (clipflow's default) or channel-first [n,c,t,h,w]. */
export type Layout = "last" | "first";

/**
 * A convolution's geometry: input [n,t,h,w,cin] (unpadded, always given channel-last), filter [kh,kw,kt,cin,cout],
 * stride, zero padding, and the layouts its input x and output y are passed in (default channel-last; the gradients
 * dx and dy take x's and y's).
 */
export interface ConvGeometry {
  input: [number, number, number, number, number];
  kernel: Triple;
  cout: number;
  stride: Triple;
  pad: Triple;
  layouts?: { x: Layout; y: Layout } | undefined;
}

function layoutsOf(g: ConvGeometry): { x: Layout; y: Layout } {
  return g.layouts ?? { x: "last", y: "last" };
}

/** [n,t,h,w,c] → [n,c,t,h,w] (a shape). */
export function channelsFirst(shape: readonly number[]): number[] {
  return [shape[0]!, shape[4]!, shape[1]!, shape[2]!, shape[3]!];
}

/** A channel-last shape as a tensor in `layout` holds it. */
export function shapeIn(layout: Layout, shape: readonly number[]): number[] {
  return layout === "last" ? [...shape] : channelsFirst(shape);
}

/**
 * Nodes that bring graph input `name` (in `layout`) to channel-first [n,c,t,h,w], or to [c,n,t,h,w] when `batchInner`:
 * a transpose where the layout differs (a channel-first tensor swaps its two outer axes by whole t·h·w blocks).
 * Returns the name of the result.
 */
function toChannelFirst(nodes: OnnxNode[], name: string, layout: Layout, batchInner = false): string {
  const perm = layout === "last" ? (batchInner ? [4, 0, 1, 2, 3] : [0, 4, 1, 2, 3]) : batchInner ? [1, 0, 2, 3, 4] : undefined;
  if (perm === undefined) return name;
  nodes.push({ op: "Transpose", inputs: [name], outputs: [`${name}_cf`], attributes: { perm: { ints: perm } } });
  return `${name}_cf`;
}

/** Nodes that bring graph input `name` (in `layout`) to channel-last; returns the name of the result. */
function toChannelLast(nodes: OnnxNode[], name: string, layout: Layout): string {
  if (layout === "last") return name;
  nodes.push({ op: "Transpose", inputs: [name], outputs: [`${name}_cl`], attributes: TO_NDHWC });
  return `${name}_cl`;
}

/** Makes channel-first `from` (the last node's output) graph output `name` in `layout`: a transpose, or a rename. */
function fromChannelFirst(nodes: OnnxNode[], from: string, name: string, layout: Layout): void {
  if (layout === "last") nodes.push({ op: "Transpose", inputs: [from], outputs: [name], attributes: TO_NDHWC });
  else nodes[nodes.length - 1]!.outputs = nodes[nodes.length - 1]!.outputs.map((o) => (o === from ? name : o));
}

/** Output sizes along t, h, w of a window sliding over [n,t,h,w,·] (PyTorch's floor mode). */
function windowed(input: readonly number[], window: Triple, stride: Triple, pad: Triple): Triple {
  return [1, 2, 3].map((axis) => Math.floor((input[axis]! + 2 * pad[axis - 1]! - window[axis - 1]!) / stride[axis - 1]!) + 1) as Triple;
}

export function outputShape(g: ConvGeometry): [number, number, number, number, number] {
  return [g.input[0], ...windowed(g.input, g.kernel, g.stride, g.pad), g.cout];
}

const TO_NCDHW = { perm: { ints: [0, 4, 1, 2, 3] } };
const TO_NDHWC = { perm: { ints: [0, 2, 3, 4, 1] } };
/** [kh,kw,kt,cin,cout] → [cout,cin,kt,kh,kw] (ONNX Conv's filter). */
const FILTER_OIDHW = { perm: { ints: [4, 3, 2, 0, 1] } };

function pointwise(g: ConvGeometry): boolean {
  const io = layoutsOf(g);
  return io.x === "last" && io.y === "last" && g.kernel.every((k) => k === 1) && g.stride.every((s) => s === 1) && g.pad.every((p) => p === 0);
}

function convAttributes(g: ConvGeometry) {
  const [pt, ph, pw] = g.pad;
  return { kernel_shape: { ints: [...g.kernel] }, strides: { ints: [...g.stride] }, pads: { ints: [pt, ph, pw, pt, ph, pw] } };
}

/** y = conv(x, w): inputs x [n,t,h,w,cin], w [kh,kw,kt,cin,cout]; output y (NDHWC). */
export function forwardGraph(g: ConvGeometry): OnnxGraph {
  const cin = g.input[4];
  const out = outputShape(g);
  const inputs = [{ name: "x", shape: [...g.input] }, { name: "w", shape: [g.kernel[1], g.kernel[2], g.kernel[0], cin, g.cout] }];
  const rows = g.input[0] * g.input[1] * g.input[2] * g.input[3];
  if (pointwise(g)) {
    return {
      nodes: [
        { op: "Reshape", inputs: ["x", "rowsIn"], outputs: ["x2"] },
        { op: "Reshape", inputs: ["w", "filter2"], outputs: ["w2"] },
        { op: "MatMul", inputs: ["x2", "w2"], outputs: ["y2"] },
        { op: "Reshape", inputs: ["y2", "outShape"], outputs: ["y"] },
      ],
      inputs,
      outputs: [{ name: "y", shape: out }],
      constants: { rowsIn: [rows, cin], filter2: [cin, g.cout], outShape: out },
    };
  }
  const io = layoutsOf(g);
  const nodes: OnnxNode[] = [];
  const xc = toChannelFirst(nodes, "x", io.x);
  nodes.push(
    { op: "Transpose", inputs: ["w"], outputs: ["wc"], attributes: FILTER_OIDHW },
    { op: "Conv", inputs: [xc, "wc"], outputs: ["yc"], attributes: convAttributes(g) },
  );
  fromChannelFirst(nodes, "yc", "y", io.y);
  return { nodes, inputs: [{ name: "x", shape: shapeIn(io.x, g.input) }, inputs[1]!], outputs: [{ name: "y", shape: shapeIn(io.y, out) }] };
}

/** dx = ∂L/∂x: inputs dy (NDHWC, the output's shape), w; output dx [n,t,h,w,cin]. */
export function inputGradientGraph(g: ConvGeometry): OnnxGraph {
  const [n, t, h, w, cin] = g.input;
  const out = outputShape(g);
  const inputs = [{ name: "dy", shape: out }, { name: "w", shape: [g.kernel[1], g.kernel[2], g.kernel[0], cin, g.cout] }];
  const outputs = [{ name: "dx", shape: [...g.input] }];
  if (pointwise(g)) {
    return {
      nodes: [
        { op: "Reshape", inputs: ["dy", "rowsOut"], outputs: ["dy2"] },
        { op: "Reshape", inputs: ["w", "filter2"], outputs: ["w2"] },
        { op: "Transpose", inputs: ["w2"], outputs: ["wt"], attributes: { perm: { ints: [1, 0] } } },
        { op: "MatMul", inputs: ["dy2", "wt"], outputs: ["dx2"] },
        { op: "Reshape", inputs: ["dx2", "inShape"], outputs: ["dx"] },
      ],
      inputs,
      outputs,
      constants: { rowsOut: [n * t * h * w, g.cout], filter2: [cin, g.cout], inShape: [...g.input] },
    };
  }
  if (g.kernel.every((k, i) => k - 1 - g.pad[i]! >= 0) && g.stride[0]! * g.stride[1]! * g.stride[2]! <= 2) return flippedInputGradientGraph(g);
  // ConvTranspose's output is (o − 1)·s − 2p + k + output_padding along each axis; the padding restores t, h, w.
  const extra = [t, h, w].map((size, i) => size - ((out[i + 1]! - 1) * g.stride[i]! - 2 * g.pad[i]! + g.kernel[i]!));
  const io = layoutsOf(g);
  const nodes: OnnxNode[] = [];
  const dyc = toChannelFirst(nodes, "dy", io.y);
  nodes.push(
    { op: "Transpose", inputs: ["w"], outputs: ["wc"], attributes: FILTER_OIDHW },
    { op: "ConvTranspose", inputs: [dyc, "wc"], outputs: ["dxc"], attributes: { ...convAttributes(g), output_padding: { ints: extra } } },
  );
  fromChannelFirst(nodes, "dxc", "dx", io.x);
  return { nodes, inputs: [{ name: "dy", shape: shapeIn(io.y, out) }, inputs[1]!], outputs: [{ name: "dx", shape: shapeIn(io.x, g.input) }] };
}

/**
 * dx as a forward Conv of dy with the filter flipped in space and in/out swapped, padded by k − 1 − p before and by
 * what restores the input size after. A strided layer's dy is first spread with s − 1 zeros between its elements (to
 * (o − 1)·s + 1 along each axis): s_t·s_h·s_w times the products ConvTranspose computes, but ORT's Conv is faster.
 * With one axis strided by 2 (S3D's and R(2+1)D's temporal downsampling) that was 2.2–2.6× faster than ConvTranspose;
 * with strided spatial axes 1.5–4× slower, so those keep ConvTranspose.
 */
export function flippedInputGradientGraph(g: ConvGeometry): OnnxGraph {
  const [n, t, h, w, cin] = g.input;
  const out = outputShape(g);
  const [, to, ho, wo, cout] = out;
  const [kt, kh, kw] = g.kernel;
  const [st, sh, sw] = g.stride;
  const spread = [to, ho, wo].map((o, i) => (o - 1) * g.stride[i]! + 1);
  const before = g.kernel.map((k, i) => k - 1 - g.pad[i]!);
  const after = [t, h, w].map((size, i) => size + g.kernel[i]! - 1 - before[i]! - spread[i]!);
  const strided = st * sh * sw > 1;
  const constants: Record<string, number[]> = { axes: [2, 3, 4], flipStarts: [-1, -1, -1], flipEnds: [-(kt + 1), -(kh + 1), -(kw + 1)], flipSteps: [-1, -1, -1] };
  const io = layoutsOf(g);
  const nodes: OnnxNode[] = [];
  const dyc = toChannelFirst(nodes, "dy", io.y);
  if (strided) {
    // [n,c,to,1,ho,1,wo,1] padded to [n,c,to,st,ho,sh,wo,sw], merged, and cut after the last element of dy
    Object.assign(constants, { gaps: [n, cout, to, 1, ho, 1, wo, 1], gapPads: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, st - 1, 0, sh - 1, 0, sw - 1], dilated: [n, cout, to * st, ho * sh, wo * sw], zero3: [0, 0, 0], spread });
    nodes.push(
      { op: "Reshape", inputs: [dyc, "gaps"], outputs: ["dy8"] },
      { op: "Pad", inputs: ["dy8", "gapPads"], outputs: ["dy8p"] },
      { op: "Reshape", inputs: ["dy8p", "dilated"], outputs: ["dyd"] },
      { op: "Slice", inputs: ["dyd", "zero3", "spread", "axes"], outputs: ["dys"] },
    );
  }
  nodes.push(
    // [kh,kw,kt,cin,cout] → [cin,cout,kt,kh,kw], then reversed along kt, kh, kw
    { op: "Transpose", inputs: ["w"], outputs: ["wt"], attributes: { perm: { ints: [3, 4, 2, 0, 1] } } },
    { op: "Slice", inputs: ["wt", "flipStarts", "flipEnds", "axes", "flipSteps"], outputs: ["wf"] },
    { op: "Conv", inputs: [strided ? "dys" : dyc, "wf"], outputs: ["dxc"], attributes: { kernel_shape: { ints: [kt, kh, kw] }, pads: { ints: [...before, ...after] } } },
  );
  fromChannelFirst(nodes, "dxc", "dx", io.x);
  return { nodes, inputs: [{ name: "dy", shape: shapeIn(io.y, out) }, { name: "w", shape: [kh, kw, kt, cin, cout] }], outputs: [{ name: "dx", shape: shapeIn(io.x, g.input) }], constants };
}

/**
 * dw of a layer with few input channels (a backbone's first, on RGB): one Conv in which the batch and channel axes swap
 * roles, x as [cin, n, t, h, w] correlated with dy as the filter [cout, n, t', h', w'] dilated by the stride, cut to the
 * kernel's size. With 3 input channels the per-tap GEMMs have 3 rows: this was 2.3× faster on the strided 3×7×7 and
 * 1×7×7 stems (152 → 67, 51 → 28 ms, batch 2, one thread; R3D's step at width 1/4: 463 → 414 ms/clip). On C3D's first
 * layer (stride 1) it was faster alone (111 → 88 ms) but slowed the step (462 → 533 ms/clip), so stride-1 layers keep
 * the per-tap GEMMs; with 16 input channels it is slower alone too.
 */
export function swappedFilterGradientGraph(g: ConvGeometry): OnnxGraph {
  const out = outputShape(g);
  const [kt, kh, kw] = g.kernel;
  const io = layoutsOf(g);
  const nodes: OnnxNode[] = [];
  const xs = toChannelFirst(nodes, "x", io.x, true);
  const dys = toChannelFirst(nodes, "dy", io.y, true);
  return {
    nodes: [
      ...nodes,
      { op: "Conv", inputs: [xs, dys], outputs: ["full"], attributes: { kernel_shape: { ints: out.slice(1, 4) }, dilations: { ints: [...g.stride] }, pads: { ints: [...g.pad, ...g.pad] } } },
      // [cin, cout, ≥kt, ≥kh, ≥kw] (a stride that does not divide the padded size leaves extra positions) → the kernel
      { op: "Slice", inputs: ["full", "zeros", "kernel", "axes"], outputs: ["cut"] },
      { op: "Transpose", inputs: ["cut"], outputs: ["dw"], attributes: { perm: { ints: [3, 4, 2, 0, 1] } } },
    ],
    inputs: [{ name: "x", shape: shapeIn(io.x, g.input) }, { name: "dy", shape: shapeIn(io.y, out) }],
    outputs: [{ name: "dw", shape: [kh, kw, kt, g.input[4], g.cout] }],
    constants: { zeros: [0, 0, 0], kernel: [kt, kh, kw], axes: [2, 3, 4] },
  };
}

/**
 * dw = ∂L/∂w: inputs x [n,t,h,w,cin], dy; output dw [kh,kw,kt,cin,cout]. One GEMM per tap over the output positions,
 * stacked in the filter's order (kh outermost, then kw, then kt): the tap's shifted (strided) slice of the padded input
 * [cin, P] × dy [P, cout]; or, at stride 1 when cout < cin, the tap's shifted slice of dy padded by k − 1 [cout, Q]
 * × x [Q, cin] (Q: the padded input's positions), so that the operand sliced 27 times is the narrower one. Slices are
 * taken channel-first, where each copies whole rows: ORT's Slice of a channel-last tensor with 3–16 channels copies a
 * few floats at a time (1.9 s for one layer). Folding all taps into one wide GEMM was faster alone but needs a
 * taps-times copy of the sliced operand, and allocating it every step cost more than it saved inside a train step.
 * Strided layers on data (at most 4 input channels: the stems) use swappedFilterGradientGraph instead.
 */
export function filterGradientGraph(g: ConvGeometry): OnnxGraph {
  if (g.input[4] <= 4 && g.stride.some((s) => s > 1)) return swappedFilterGradientGraph(g);
  const [n, t, h, w, cin] = g.input;
  const out = outputShape(g);
  const [, to, ho, wo] = out;
  const [kt, kh, kw] = g.kernel;
  const [st, sh, sw] = g.stride;
  const [pt, ph, pw] = g.pad;
  const [tp, hp, wp] = [t + 2 * pt, h + 2 * ph, w + 2 * pw];
  const dyShift = st * sh * sw === 1 && g.cout < cin && kt * kh * kw > 1;
  const pads = (p: Triple) => [0, 0, ...p, 0, 0, ...p];
  const nodes: OnnxNode[] = [];
  const constants: Record<string, number[]> = { axes: [2, 3, 4], steps: dyShift ? [1, 1, 1] : [st, sh, sw] };
  // the sliced operand, channels outermost ([c, n, t, h, w]) and padded
  const io = layoutsOf(g);
  let from = toChannelFirst(nodes, dyShift ? "dy" : "x", dyShift ? io.y : io.x, true);
  const margin: Triple = dyShift ? [kt - 1, kh - 1, kw - 1] : [pt, ph, pw];
  if (margin.some((m) => m > 0)) {
    nodes.push({ op: "Pad", inputs: [from, "slicedPads"], outputs: ["slicedPadded"] });
    constants.slicedPads = pads(margin);
    from = "slicedPadded";
  }
  // the other operand as rows [positions, channels]
  let other = toChannelLast(nodes, dyShift ? "x" : "dy", dyShift ? io.x : io.y);
  if (dyShift && pt + ph + pw > 0) {
    nodes.push({ op: "Pad", inputs: [other, "xPads"], outputs: ["xp"] });
    constants.xPads = [0, pt, ph, pw, 0, 0, pt, ph, pw, 0];
    other = "xp";
  }
  const positions = dyShift ? n * tp * hp * wp : n * to * ho * wo;
  const [slicedChannels, otherChannels] = dyShift ? [g.cout, cin] : [cin, g.cout];
  constants.otherRows = [positions, otherChannels];
  constants.tapRows = [slicedChannels, positions];
  nodes.push({ op: "Reshape", inputs: [other, "otherRows"], outputs: ["otherRows2"] });
  const length: Triple = dyShift ? [tp, hp, wp] : [to, ho, wo];
  const step: Triple = dyShift ? [1, 1, 1] : [st, sh, sw];
  const products: string[] = [];
  for (let b = 0; b < kh; b += 1) {
    for (let c = 0; c < kw; c += 1) {
      for (let a = 0; a < kt; a += 1) {
        const tap = `tap${products.length}`;
        const start: Triple = dyShift ? [kt - 1 - a, kh - 1 - b, kw - 1 - c] : [a, b, c];
        constants[`${tap}s`] = start;
        constants[`${tap}e`] = start.map((v, i) => v + (length[i]! - 1) * step[i]! + 1);
        nodes.push(
          { op: "Slice", inputs: [from, `${tap}s`, `${tap}e`, "axes", "steps"], outputs: [tap] },
          { op: "Reshape", inputs: [tap, "tapRows"], outputs: [`${tap}r`] },
          { op: "MatMul", inputs: [`${tap}r`, "otherRows2"], outputs: [`${tap}p`] },
        );
        products.push(`${tap}p`);
      }
    }
  }
  nodes.push(products.length === 1 ? { op: "Identity", inputs: products, outputs: ["stacked"] } : { op: "Concat", inputs: products, outputs: ["stacked"], attributes: { axis: { int: 0 } } });
  if (dyShift) {
    constants.byTap = [kh, kw, kt, g.cout, cin];
    nodes.push(
      { op: "Reshape", inputs: ["stacked", "byTap"], outputs: ["dw5"] },
      { op: "Transpose", inputs: ["dw5"], outputs: ["dw"], attributes: { perm: { ints: [0, 1, 2, 4, 3] } } },
    );
  } else {
    constants.filter = [kh, kw, kt, cin, g.cout];
    nodes.push({ op: "Reshape", inputs: ["stacked", "filter"], outputs: ["dw"] });
  }
  return {
    nodes,
    inputs: [{ name: "x", shape: shapeIn(io.x, g.input) }, { name: "dy", shape: shapeIn(io.y, out) }],
    outputs: [{ name: "dw", shape: [kh, kw, kt, cin, g.cout] }],
    constants,
  };
}

/** y = op(a)·op(b) with op a transpose where asked (ONNX Gemm, 2D). */
export function gemmGraph(a: [number, number], b: [number, number], transA: boolean, transB: boolean): OnnxGraph {
  const m = transA ? a[1] : a[0];
  const n = transB ? b[0] : b[1];
  return {
    nodes: [{ op: "Gemm", inputs: ["a", "b"], outputs: ["y"], attributes: { transA: { int: transA ? 1 : 0 }, transB: { int: transB ? 1 : 0 } } }],
    inputs: [{ name: "a", shape: a }, { name: "b", shape: b }],
    outputs: [{ name: "y", shape: [m, n] }],
  };
}

/** A max pooling's geometry: input [n,t,h,w,c], window, stride and padding (implicit −∞) along t, h, w. */
export interface PoolGeometry {
  input: [number, number, number, number, number];
  window: Triple;
  stride: Triple;
  pad: Triple;
}

export function poolOutputShape(p: PoolGeometry): [number, number, number, number, number] {
  return [p.input[0], ...windowed(p.input, p.window, p.stride, p.pad), p.input[4]];
}

function maxPoolNode(p: PoolGeometry, outputs: string[]): OnnxNode {
  const [pt, ph, pw] = p.pad;
  return { op: "MaxPool", inputs: ["xc"], outputs, attributes: { kernel_shape: { ints: [...p.window] }, strides: { ints: [...p.stride] }, pads: { ints: [pt, ph, pw, pt, ph, pw] } } };
}

/** y = max pooling of x (PyTorch's MaxPool3d, floor mode): NDHWC → NCDHW, MaxPool, back. */
export function maxPoolGraph(p: PoolGeometry): OnnxGraph {
  return {
    nodes: [
      { op: "Transpose", inputs: ["x"], outputs: ["xc"], attributes: TO_NCDHW },
      maxPoolNode(p, ["yc"]),
      { op: "Transpose", inputs: ["yc"], outputs: ["y"], attributes: TO_NDHWC },
    ],
    inputs: [{ name: "x", shape: [...p.input] }],
    outputs: [{ name: "y", shape: poolOutputShape(p) }],
  };
}

/**
 * dx of max pooling: inputs x and dy, output dx. The pooling is run again for the index of each window's maximum (one
 * per window, as PyTorch's), and dy is added into zeros at those indices (overlapping windows may share one). Most of
 * the time is MaxPool's Indices output (5 ms for an S3D pool that takes 0.6 ms without it); adding dy in JavaScript
 * instead of ScatterElements was measured no faster.
 */
export function maxPoolGradientGraph(p: PoolGeometry): OnnxGraph {
  const [n, t, h, w, c] = p.input;
  return {
    nodes: [
      { op: "Transpose", inputs: ["x"], outputs: ["xc"], attributes: TO_NCDHW },
      maxPoolNode(p, ["yc", "indices"]),
      { op: "Transpose", inputs: ["dy"], outputs: ["dyc"], attributes: TO_NCDHW },
      { op: "Reshape", inputs: ["indices", "flat"], outputs: ["indicesFlat"] },
      { op: "Reshape", inputs: ["dyc", "flat"], outputs: ["dyFlat"] },
      { op: "ConstantOfShape", inputs: ["size"], outputs: ["zeros"] },
      { op: "ScatterElements", inputs: ["zeros", "indicesFlat", "dyFlat"], outputs: ["dxFlat"], attributes: { axis: { int: 0 }, reduction: { string: "add" } } },
      { op: "Reshape", inputs: ["dxFlat", "channelsFirst"], outputs: ["dxc"] },
      { op: "Transpose", inputs: ["dxc"], outputs: ["dx"], attributes: TO_NDHWC },
    ],
    inputs: [{ name: "x", shape: [...p.input] }, { name: "dy", shape: poolOutputShape(p) }],
    outputs: [{ name: "dx", shape: [...p.input] }],
    constants: { flat: [-1], size: [n * t * h * w * c], channelsFirst: [n, c, t, h, w] },
  };
}

/** The cache key and graph of a max pooling's forward pass or gradient. */
export function poolKernel(pass: "maxPool" | "maxPoolGradient", p: PoolGeometry): [string, () => OnnxGraph] {
  return [`${pass}:${p.input.join("x")}:${p.window.join("x")}:${p.stride.join("x")}:${p.pad.join("x")}`, () => (pass === "maxPool" ? maxPoolGraph(p) : maxPoolGradientGraph(p))];
}

export type ConvPass = "forward" | "inputGradient" | "filterGradient";

const graphOf: Record<ConvPass, (g: ConvGeometry) => OnnxGraph> = { forward: forwardGraph, inputGradient: inputGradientGraph, filterGradient: filterGradientGraph };

/** The cache key and graph of a large 2D product (ops.ts matMul). */
export function gemmKernel(a: [number, number], b: [number, number], transA: boolean, transB: boolean): [string, () => OnnxGraph] {
  return [`gemm:${a.join("x")}:${b.join("x")}:${transA}:${transB}`, () => gemmGraph(a, b, transA, transB)];
}

/** The cache key and graph of one convolution pass. */
export function convKernel(pass: ConvPass, g: ConvGeometry): [string, () => OnnxGraph] {
  const io = layoutsOf(g);
  return [`${pass}:${g.input.join("x")}:${g.kernel.join("x")}:${g.cout}:${g.stride.join("x")}:${g.pad.join("x")}:${io.x}${io.y}`, () => graphOf[pass](g)];
}

interface WasmBackendView {
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array;
}

/** ONNX Runtime sessions for the convolutions of one thread, built on first use of each (pass, geometry). */
export class OrtConvEngine {
  private readonly sessions = new Map<string, OrtSession>();

  private constructor(
    private readonly ort: OrtBinding,
    private readonly Tensor: TensorClass,
    readonly threads: number,
  ) {}

  /** Loads onnxruntime-node; a string says why it is unavailable. */
  static load(threads = availableParallelism()): OrtConvEngine | string {
    const require = createRequire(import.meta.url);
    try {
      const ort = require("onnxruntime-node/dist/binding.js") as OrtBinding;
      const common = require("onnxruntime-common") as { Tensor: TensorClass; env: { logLevel?: string } };
      common.env.logLevel = "error";
      ort.initOrt();
      const Tensor = common.Tensor;
      return new OrtConvEngine(ort, Tensor, Math.max(1, threads));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") return "not installed";
      return error instanceof Error ? error.message.split("\n")[0]! : String(error);
    }
  }

  private session(key: string, build: () => OnnxGraph): OrtSession {
    let session = this.sessions.get(key);
    if (session === undefined) {
      const bytes = onnxModel(build());
      session = new this.ort.binding.InferenceSession();
      try {
        // no memory arena: one per session would each keep its peak (dozens of sessions per network)
        session.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { intraOpNumThreads: this.threads, interOpNumThreads: 1, graphOptimizationLevel: "all", enableCpuMemArena: false, logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: "0" } } } });
      } catch (error) {
        throw new ClipflowError("KernelError", `ONNX Runtime rejected the graph ${key}: ${error instanceof Error ? error.message : String(error)}`, { field: "convolutions", cause: error });
      }
      this.sessions.set(key, session);
    }
    return session;
  }

  /**
   * Runs one pass on tfjs tensors and returns its output as a tfjs tensor of `shape`. On wasm, ORT reads and writes
   * the wasm heap directly; elsewhere the data is copied out and in.
   */
  run([key, build]: [string, () => OnnxGraph], inputs: Record<string, tf.Tensor>, outputName: string, shape: number[]): tf.Tensor {
    const session = this.session(key, build);
    const backend = tf.backend() as unknown as Partial<WasmBackendView>;
    const onHeap = typeof backend.makeOutput === "function" && typeof backend.typedArrayFromHeap === "function";
    // the output is allocated before any view is taken: an allocation may move the wasm heap
    const info = onHeap ? backend.makeOutput!(shape, "float32") : undefined;
    const view = (t: tf.TensorInfo) => (onHeap ? backend.typedArrayFromHeap!(t) : (tf.engine().readSync(t.dataId) as Float32Array));
    const feeds: Record<string, OrtTensor> = {};
    for (const [name, tensor] of Object.entries(inputs)) feeds[name] = new this.Tensor("float32", view(tensor), tensor.shape);
    if (info === undefined) return tf.tensor(session.run(feeds, { [outputName]: null }, {})[outputName]!.data, shape);
    session.run(feeds, { [outputName]: new this.Tensor("float32", view(info), shape) }, {});
    return tf.engine().makeTensorFromTensorInfo(info);
  }

  dispose(): void {
    for (const session of this.sessions.values()) session.dispose();
    this.sessions.clear();
  }
}
