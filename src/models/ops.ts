/**
 * Tensor ops the backbones are built from, channel-last (NDHWC). On the wasm and cpu backends tf.conv3d is a naive
 * kernel (0.6 GFLOP/s measured here, against 35 for XNNPACK's conv2d) and Conv2DBackpropFilter does not exist on wasm,
 * so every 3D convolution is expressed with 2D convolutions: the kt temporal taps folded into the channel axis
 * ([N,T,H,W,C] → [N·T', H, W, kt·C] with the filter reshaped to [kh, kw, kt·C, Cout]), or, for layers narrower than
 * 64 channels (where the fold's concat and its gradient cost more than they save), one 2D convolution per tap, summed.
 * The 2D convolution has a custom
 * gradient in which both the input and the filter gradients are themselves forward convolutions (XNNPACK speed; the
 * stock Conv2DBackpropInput on wasm runs at 3 GFLOP/s). On tfjs-node the native conv3d is used instead, and where
 * onnxruntime-node is loaded, conv3d and large matMuls run on ONNX Runtime (src/models/ortConv.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { activeBackend, activeSimd } from "./backend.ts";
import { ClipflowError } from "../core/errors.ts";
import type { SimdKernels } from "./simdKernels.ts";
import { convKernel, gemmKernel, outputShape, poolKernel, poolOutputShape, shapeIn, type ConvGeometry, type Layout, type OrtConvEngine, type PoolGeometry, type Triple } from "./ortConv.ts";

export type { Triple };

type CustomGrad = Parameters<typeof tf.customGrad>[0];

/**
 * Inserts s−1 zeros after every element along axes 1 and 2 of an NHWC tensor (the "dilated" gradient of a strided
 * conv), trailing zeros included: [n, h·sh, w·sw, c]. The caller's padding absorbs the trailing s−1 (a rank-4 slice to
 * drop them costs as much as the pad on wasm).
 */
function dilateSpatial(dy: tf.Tensor4D, sh: number, sw: number): tf.Tensor4D {
  if (sh === 1 && sw === 1) return dy;
  const [n, h, w, c] = dy.shape;
  const spread = tf.pad(dy.reshape([n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
  return spread.reshape([n, h * sh, w * sw, c]);
}

/**
 * Unpadded 2D convolution y = x ⋆ w with stride (sh, sw), whose gradients are forward convolutions:
 * dx = (dilated dy, zero-padded by k−1) ⋆ (w flipped in space, in/out swapped); dw = xᵀ ⋆ dyᵀ with dilation = stride
 * (batch and channels swap roles), cropped to the kernel size.
 * `inputGradient: false` (a network's first layer, whose input is data) returns zeros for dx instead of computing it:
 * a custom gradient is evaluated eagerly for every input, and the stem's dx was a quarter of a small network's step.
 */
export function conv2dValid(x: tf.Tensor4D, w: tf.Tensor4D, sh = 1, sw = 1, inputGradient = true): tf.Tensor4D {
  const op = tf.customGrad(((xIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const x4 = xIn as tf.Tensor4D;
    const w4 = wIn as tf.Tensor4D;
    save([x4, w4]);
    const value = tf.conv2d(x4, w4, [sh, sw], "valid");
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dy4 = dy as tf.Tensor4D;
        const [, hp, wp, cin] = xs.shape;
        const [kh, kw, , cout] = ws.shape;
        const dx = inputGradient ? inputGrad(dy4, ws, hp, wp, sh, sw) : tf.zerosLike(xs);
        const xT = tf.transpose(xs, [3, 1, 2, 0]);
        const dyT = tf.transpose(dy4, [1, 2, 0, 3]);
        const full = tf.conv2d(xT as tf.Tensor4D, dyT as tf.Tensor4D, 1, "valid", "NHWC", [sh, sw]);
        const dw = tf.transpose(full.slice([0, 0, 0, 0], [cin, kh, kw, cout]), [1, 2, 0, 3]);
        return [dx, dw];
      },
    };
  }) as unknown as CustomGrad);
  return op(x, w) as tf.Tensor4D;
}

/** dx of conv2dValid: the dilated dy, padded to (hp + kh − 1) × (wp + kw − 1), convolved with the flipped filter. */
function inputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, hp: number, wp: number, sh: number, sw: number): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const [, ho, wo] = dy.shape;
  let spread = dilateSpatial(dy, sh, sw);
  // below and right of the spread's own trailing zeros: hp + kh − 1 = (kh − 1) + ho·sh + after (negative: crop instead)
  let afterH = hp - ho * sh;
  let afterW = wp - wo * sw;
  if (afterH < 0 || afterW < 0) {
    const [n, h, w2, c] = spread.shape;
    spread = spread.slice([0, 0, 0, 0], [n, h + Math.min(0, afterH), w2 + Math.min(0, afterW), c]);
    afterH = Math.max(0, afterH);
    afterW = Math.max(0, afterW);
  }
  const padded = padRows(spread, [kh - 1, afterH], [kw - 1, afterW]);
  const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
  return tf.conv2d(padded, flipped as tf.Tensor4D, 1, "valid");
}

/**
 * Frames offset, offset + s, ..., offset + (count−1)·s along axis 1 of a 5D tensor, returned as [N·count·H·W, C].
 * Slices run on rank-3 views: wasm's slice (and concat's gradient, SplitV) take a slow generic path above rank 4
 * (0.3 s for a 4×34×34×34×4 slice, against milliseconds at rank 3).
 */
function framesAsRows(x: tf.Tensor5D, offset: number, stride: number, count: number): tf.Tensor2D {
  const [n, t, h, w, c] = x.shape;
  const plane = h * w * c;
  const flat = x.reshape([n, t, plane]);
  let picked: tf.Tensor;
  if (stride === 1) picked = flat.slice([0, offset, 0], [n, count, plane]);
  else {
    const span = Math.min(stride * count, t - offset);
    let run = flat.slice([0, offset, 0], [n, span, plane]);
    if (span < stride * count) run = tf.pad(run, [[0, 0], [0, stride * count - span], [0, 0]]);
    picked = run.reshape([n * count, stride * plane]).slice([0, 0], [n * count, plane]);
  }
  return picked.reshape([n * count * h * w, c]);
}

/** The kt temporal taps folded into channels: [N·T'·H·W, kt·C] (rank-2 concat, whose gradient is a rank-2 split). */
function foldTaps(x: tf.Tensor5D, kt: number, stride: number, count: number): tf.Tensor2D {
  const taps = Array.from({ length: kt }, (_, dt) => framesAsRows(x, dt, stride, count));
  return kt === 1 ? taps[0]! : (tf.concat(taps, 1) as tf.Tensor2D);
}

/**
 * Zero padding of H and W of an NHWC tensor on its rank-3 view [N, H, W·C]: wasm pads (and slices, the pad's gradient)
 * rank-3 tensors 3–6× faster than rank-4 ones (0.7 vs 3.9 ms for a 256×32×32×8 pad, 6.7 vs 20 ms for the slice back).
 */
function padRows(x: tf.Tensor4D, h: [number, number], w: [number, number]): tf.Tensor4D {
  const [n, hh, ww, c] = x.shape;
  const y = tf.pad(x.reshape([n, hh, ww * c]), [[0, 0], h, [w[0] * c, w[1] * c]]);
  return y.reshape([n, hh + h[0] + h[1], ww + w[0] + w[1], c]);
}

/** Zero padding of T, H and W on rank-4/3 views (the gradient of a rank-5 pad is a slow rank-5 slice on wasm). */
export function pad3d(x: tf.Tensor5D, pad: Triple): tf.Tensor5D {
  const [pt, ph, pw] = pad;
  const [n, t, h, w, c] = x.shape;
  let y: tf.Tensor = x;
  if (ph > 0 || pw > 0) y = padRows(y.reshape([n * t, h, w, c]) as tf.Tensor4D, [ph, ph], [pw, pw]);
  const hp = h + 2 * ph;
  const wp = w + 2 * pw;
  if (pt > 0) y = tf.pad(y.reshape([n, t, hp * wp * c]), [[0, 0], [pt, pt], [0, 0]]);
  return y.reshape([n, t + 2 * pt, hp, wp, c]);
}

/**
 * 3D convolution, NDHWC input [N,T,H,W,Cin], filter in clipflow's folded layout [kh,kw,kt,Cin,Cout] (so that the
 * wasm path needs no filter transpose: wasm's rank-5 transpose costs 0.35 s for a 512×512×27 filter), zero padding
 * (pt,ph,pw) on both sides. Matches PyTorch's Conv3d (cross-correlation) up to float rounding. `inputGradient: false`
 * when x is data (a backbone's first layer): its gradient is then zeros, not computed (see conv2dValid).
 */
export function conv3d(x: tf.Tensor5D, w: tf.Tensor5D, stride: Triple = [1, 1, 1], pad: Triple = [0, 0, 0], inputGradient = true, layouts?: ConvLayouts): tf.Tensor5D {
  const [st, sh, sw] = stride;
  const { ort, nativeConv3d } = activeBackend();
  if (ort !== undefined) return conv3dOrt(ort, x, w, stride, pad, inputGradient, layouts);
  if (layouts !== undefined && (layouts.x === "first" || layouts.y === "first")) {
    // channel-first tensors are ONNX Runtime's; elsewhere they are brought to channel-last and back
    return relayout(conv3d(relayout(x, layouts.x, "last"), w, stride, pad, inputGradient), "last", layouts.y);
  }
  const padded = pad3d(x, pad);
  if (nativeConv3d) return tf.conv3d(padded, tf.transpose(w, [2, 0, 1, 3, 4]) as tf.Tensor5D, stride, "valid");
  const [n, tp, hp, wp, cin] = padded.shape;
  const [kh, kw, kt, , cout] = w.shape;
  const to = Math.floor((tp - kt) / st) + 1;
  if (cin < 64 && kt > 1 && !(kh === 1 && kw === 1 && sh === 1 && sw === 1)) {
    const taps = w.reshape([kh * kw, kt, cin * cout]);
    let sum: tf.Tensor4D | undefined;
    for (let dt = 0; dt < kt; dt += 1) {
      const filter = taps.slice([0, dt, 0], [kh * kw, 1, cin * cout]).reshape([kh, kw, cin, cout]) as tf.Tensor4D;
      const y = conv2dValid(framesAsRows(padded, dt, st, to).reshape([n * to, hp, wp, cin]), filter, sh, sw, inputGradient);
      sum = sum === undefined ? y : (tf.add(sum, y) as tf.Tensor4D);
    }
    const [, ho, wo] = sum!.shape;
    return sum!.reshape([n, to, ho, wo, cout]);
  }
  const rows = foldTaps(padded, kt, st, to);
  const y = conv2dValid(rows.reshape([n * to, hp, wp, kt * cin]), w.reshape([kh, kw, kt * cin, cout]) as tf.Tensor4D, sh, sw, inputGradient);
  const [, ho, wo] = y.shape;
  return y.reshape([n, to, ho, wo, cout]);
}

/**
 * a·wa + b·wb element-wise (EMA updates, running statistics, weighted gradient sums): one pass on clipflow's SIMD
 * kernels where they run, else the same float32 operations as tfjs ops.
 */
export function blend(a: tf.Tensor, wa: number, b: tf.Tensor, wb: number): tf.Tensor {
  const simd = activeSimd();
  if (simd !== undefined) return simd.blend(a, wa, b, wb);
  return tf.tidy(() => tf.add(tf.mul(a, wa), tf.mul(b, wb)));
}

/**
 * Whether layers should pass channel-first activations between them (S3D's separable convolutions: the 1×k×k
 * convolution's output and the k×1×1 one's input skip two transposes each way): only where ONNX Runtime runs the
 * convolutions and clipflow's SIMD kernels the batch norm; elsewhere channel-first tensors would be transposed back.
 */
export function channelFirstPays(): boolean {
  const { ort, simd } = activeBackend();
  return ort !== undefined && simd !== undefined;
}

/** The layouts of a convolution's input and output (see ortConv.ts ConvGeometry); channel-last by default. */
export type ConvLayouts = { x: Layout; y: Layout };

/** x ([n,t,h,w,c] or [n,c,t,h,w] as `from` says) in layout `to`, by a rank-3 transpose (rank-5 ones are slow on wasm). */
export function relayout(x: tf.Tensor5D, from: Layout, to: Layout): tf.Tensor5D {
  if (from === to) return x;
  const [n, a, b, c, d] = x.shape;
  if (from === "last") return tf.transpose(x.reshape([n, a * b * c, d]), [0, 2, 1]).reshape([n, d, a, b, c]);
  return tf.transpose(x.reshape([n, a, b * c * d]), [0, 2, 1]).reshape([n, b, c, d, a]);
}

/** conv3d's three passes on ONNX Runtime (src/models/ortConv.ts), padding and layouts included. */
function conv3dOrt(engine: OrtConvEngine, x: tf.Tensor5D, w: tf.Tensor5D, stride: Triple, pad: Triple, inputGradient: boolean, layouts?: ConvLayouts): tf.Tensor5D {
  const [kh, kw, kt, , cout] = w.shape;
  const [n, a, b, c, d] = x.shape;
  const input: [number, number, number, number, number] = layouts?.x === "first" ? [n, b, c, d, a] : x.shape;
  const g: ConvGeometry = { input, kernel: [kt, kh, kw], cout, stride, pad, layouts };
  const op = tf.customGrad(((xIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xIn, wIn]);
    return {
      value: engine.run(convKernel("forward", g), { x: xIn, w: wIn }, "y", shapeIn(layouts?.y ?? "last", outputShape(g))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
        const dx = inputGradient ? engine.run(convKernel("inputGradient", g), { dy, w: ws }, "dx", xs.shape) : tf.zerosLike(xs);
        return [dx, engine.run(convKernel("filterGradient", g), { x: xs, dy }, "dw", ws.shape)];
      },
    };
  }) as unknown as CustomGrad);
  return op(x, w) as tf.Tensor5D;
}

/**
 * Max over non-overlapping windows of k along one axis of a tensor seen as [outer, count·k, inner] (floor mode), as an
 * elementwise maximum of k strided slices: no transpose (tf.max over a middle axis transposes the whole tensor).
 */
function maxWindows(x: tf.Tensor, outer: number, length: number, k: number, inner: number): tf.Tensor {
  const count = Math.floor(length / k);
  const flat = x.reshape([outer, length, inner]);
  const kept = count * k === length ? flat : flat.slice([0, 0, 0], [outer, count * k, inner]);
  const windows = kept.reshape([outer, count, k * inner]);
  let y: tf.Tensor = windows.slice([0, 0, 0], [outer, count, inner]);
  for (let i = 1; i < k; i += 1) y = tf.maximum(y, windows.slice([0, 0, i * inner], [outer, count, inner]));
  return y;
}

/**
 * 2D max pooling (window = stride) on XNNPACK with a gradient of our own: wasm's MaxPoolGrad drops gradient when there
 * are several channels. The gradient goes to every element equal to its window's maximum (PyTorch picks one; exact
 * ties do not occur on real activations).
 */
function maxPool2d(x: tf.Tensor4D, kh: number, kw: number): tf.Tensor4D {
  const op = tf.customGrad(((xIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const x4 = xIn as tf.Tensor4D;
    const y = tf.maxPool(x4, [kh, kw], [kh, kw], "valid");
    save([x4, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as [tf.Tensor4D, tf.Tensor4D];
        const [n, h, w, c] = xs.shape;
        const [, ho, wo] = ys.shape;
        const spread = (t: tf.Tensor) => tf.image.resizeNearestNeighbor(t as tf.Tensor4D, [ho * kh, wo * kw]);
        const covered = xs.shape[1] === ho * kh && xs.shape[2] === wo * kw ? xs : xs.slice([0, 0, 0, 0], [n, ho * kh, wo * kw, c]);
        const mask = tf.cast(tf.equal(covered, spread(ys)), "float32");
        const dx = tf.mul(mask, spread(dy));
        return h === ho * kh && w === wo * kw ? dx : tf.pad(dx, [[0, 0], [0, h - ho * kh], [0, w - wo * kw], [0, 0]]);
      },
    };
  }) as unknown as CustomGrad);
  return op(x) as tf.Tensor4D;
}

/**
 * Max pooling on ONNX Runtime: its MaxPool, and for the gradient the indices of the maxima (ortConv.ts). For S3D's
 * overlapping pools this replaced a step's 1.5 s of shifted slices, maxima and their gradients (4.1 → 2.6 s per step).
 */
function maxPool3dOrt(engine: OrtConvEngine, x: tf.Tensor5D, window: Triple, stride: Triple, pad: Triple): tf.Tensor5D {
  const p: PoolGeometry = { input: x.shape, window, stride, pad };
  const op = tf.customGrad(((xIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xIn]);
    return {
      value: engine.run(poolKernel("maxPool", p), { x: xIn }, "y", poolOutputShape(p)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => engine.run(poolKernel("maxPoolGradient", p), { x: saved[0]!, dy }, "dx", p.input),
    };
  }) as unknown as CustomGrad);
  return op(x) as tf.Tensor5D;
}

/** Max pooling on clipflow's SIMD kernels (simdKernels.ts): the forward pass keeps each maximum's position for the gradient. */
function maxPool3dSimd(kernels: SimdKernels, x: tf.Tensor5D, window: Triple, stride: Triple, pad: Triple): tf.Tensor5D {
  const out = poolOutputShape({ input: x.shape, window, stride, pad }).slice(1, 4);
  if (out.some((size) => size < 1)) throw new ClipflowError("ConfigError", `max pooling window ${window.join("×")} does not fit ${x.shape.slice(1, 4).join("×")} (padding ${pad.join("×")})`, { field: "window" });
  const op = tf.customGrad(((xIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const { y, index } = kernels.maxPoolForward(xIn as tf.Tensor5D, window, stride, pad, out);
    save([index]);
    return { value: y, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => kernels.maxPoolBackward(dy, saved[0]!, xIn.shape) };
  }) as unknown as CustomGrad);
  return op(x) as tf.Tensor5D;
}

/**
 * Max pooling with window = stride = (kt, kh, kw), PyTorch floor mode. On clipflow's SIMD kernels where they run
 * (3.5–9× faster than the tfjs path below, forward and gradient, on C3D's pools); otherwise on tfjs even with ONNX
 * Runtime loaded: ORT's scatter of the gradient took 130 ms for C3D's first pool (4×16×112×112×16), twice tfjs's time.
 */
export function maxPool3d(x: tf.Tensor5D, window: Triple): tf.Tensor5D {
  const { simd } = activeBackend();
  if (simd !== undefined) return maxPool3dSimd(simd, x, window, window, [0, 0, 0]);
  const [kt, kh, kw] = window;
  let y = x;
  if (kh > 1 || kw > 1) {
    const [n, t, h, w, c] = y.shape;
    const pooled = maxPool2d(y.reshape([n * t, h, w, c]), kh, kw);
    y = pooled.reshape([n, t, pooled.shape[1], pooled.shape[2], c]);
  }
  if (kt > 1) {
    const [n, t, h, w, c] = y.shape;
    y = maxWindows(y, n, t, kt, h * w * c).reshape([n, Math.floor(t / kt), h, w, c]);
  }
  return y;
}

/** The padding value of max pooling: below any activation, finite (so that no gradient multiplies an infinity). */
const MAX_POOL_PAD = -3.4e38;

/** Max over windows of k along axis 1 of [outer, L, inner] with stride s and p padded positions on each side. */
function maxAlong(x: tf.Tensor3D, k: number, s: number, p: number): tf.Tensor3D {
  const [outer, length, inner] = x.shape;
  const padded = p === 0 ? x : (tf.pad(x, [[0, 0], [p, p], [0, 0]], MAX_POOL_PAD) as tf.Tensor3D);
  const full = length + 2 * p;
  const out = Math.floor((full - k) / s) + 1;
  if (out < 1) throw new ClipflowError("ConfigError", `max pooling window ${k} does not fit an axis of ${length} (padding ${p})`, { field: "window" });
  // stride-1 maxima over the positions the strided windows start at, then every s-th of them
  const starts = (out - 1) * s + 1;
  let y = padded.slice([0, 0, 0], [outer, starts, inner]);
  for (let j = 1; j < k; j += 1) y = tf.maximum(y, padded.slice([0, j, 0], [outer, starts, inner]));
  if (s === 1) return y;
  const whole = out * s;
  const even = tf.pad(y, [[0, 0], [0, whole - starts], [0, 0]]);
  return even.reshape([outer, out, s * inner]).slice([0, 0, 0], [outer, out, inner]) as tf.Tensor3D;
}

/**
 * Max pooling with any window, stride and padding (PyTorch's MaxPool3d, floor mode, implicit −∞ padding), as three
 * one-axis passes (a box maximum is separable) of shifted slices and element-wise maxima: every piece has a gradient
 * on wasm, so overlapping windows (S3D's 3×3×3 stride 1 and 1×3×3 stride 2) train without MaxPool3DGrad. The gradient
 * of an output goes to one input that holds its window's maximum. (Without the SIMD kernels, `maxPool3d` serves
 * window = stride: XNNPACK's 2D pooling is faster there.) On the wasm backend clipflow's SIMD kernel runs instead
 * (maxPool3dSimd: S3D's pools went from 185 ms of a step on ORT's MaxPool to 48); with ONNX Runtime loaded but
 * not those kernels, ORT's MaxPool (maxPool3dOrt).
 */
export function maxPool3dStrided(x: tf.Tensor5D, window: Triple, stride: Triple, pad: Triple): tf.Tensor5D {
  const { ort, simd } = activeBackend();
  if (simd !== undefined) return maxPool3dSimd(simd, x, window, stride, pad);
  if (ort !== undefined) return maxPool3dOrt(ort, x, window, stride, pad);
  let y: tf.Tensor = x;
  for (let axis = 0; axis < 3; axis += 1) {
    const [k, s, p] = [window[axis]!, stride[axis]!, pad[axis]!];
    if (k === 1 && s === 1 && p === 0) continue;
    const shape = y.shape as number[];
    const outer = shape.slice(0, axis + 1).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 2).reduce((a, b) => a * b, 1);
    const pooled = maxAlong(y.reshape([outer, shape[axis + 1]!, inner]) as tf.Tensor3D, k, s, p);
    y = pooled.reshape([...shape.slice(0, axis + 1), pooled.shape[1], ...shape.slice(axis + 2)]);
  }
  return y as tf.Tensor5D;
}

/** Products at least this large (m·n·k) go to ONNX Runtime's GEMM when it is loaded; smaller ones cost less in tfjs. */
const ORT_MIN_PRODUCT = 1 << 18;

function gemm(engine: OrtConvEngine, a: tf.Tensor, b: tf.Tensor, transA: boolean, transB: boolean): tf.Tensor2D {
  const [sa, sb] = [a.shape as [number, number], b.shape as [number, number]];
  const shape = [transA ? sa[1] : sa[0], transB ? sb[0] : sb[1]];
  return engine.run(gemmKernel(sa, sb, transA, transB), { a, b }, "y", shape) as tf.Tensor2D;
}

/**
 * tf.matMul of 2D tensors; on ONNX Runtime's multithreaded GEMM (with its own gradient, also GEMMs) when it is loaded
 * and the product is large. wasm's BatchMatMul ran the [1, M] × [M, C] column sums of batch normalisation and the
 * decoder's [M, 16]ᵀ × [M, 128] weight gradients at 2–3 GFLOP/s: 5 of the 14 s of a PRP step at 112².
 */
export function matMul(a: tf.Tensor, b: tf.Tensor, transA = false, transB = false): tf.Tensor2D {
  const { ort } = activeBackend();
  const [sa, sb] = [a.shape as [number, number], b.shape as [number, number]];
  const [m, k] = transA ? [sa[1], sa[0]] : sa;
  const n = transB ? sb[0] : sb[1];
  if (ort === undefined || m * n * k < ORT_MIN_PRODUCT) return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, transA, transB);
  const op = tf.customGrad(((aIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([aIn, bIn]);
    return {
      value: gemm(ort, aIn, bIn, transA, transB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor, tf.Tensor];
        // y = A'·B' with A' = op(A), B' = op(B): dA' = dy·B'ᵀ, dB' = A'ᵀ·dy, transposed back where A or B was
        const da = transA ? gemm(ort, bs, dy, transB, true) : gemm(ort, dy, bs, false, !transB);
        const db = transB ? gemm(ort, dy, as, true, transA) : gemm(ort, as, dy, !transA, false);
        return [da, db];
      },
    };
  }) as unknown as CustomGrad);
  return op(a, b) as tf.Tensor2D;
}

/** [N,T,H,W,8·C] with channels ordered (pt,ph,pw,c) → [N,2T,2H,2W,C], by two rank-4 transposes (rank-8 ones are slow on wasm). */
function depthToSpace2(y: tf.Tensor, n: number, t: number, h: number, w: number, c: number): tf.Tensor5D {
  const timeFirst = tf.transpose(y.reshape([n * t, h * w, 2, 4 * c]), [0, 2, 1, 3]);
  const rowsFirst = tf.transpose(timeFirst.reshape([n * 2 * t * h, w, 2, 2 * c]), [0, 2, 1, 3]);
  return rowsFirst.reshape([n, 2 * t, 2 * h, 2 * w, c]);
}

/**
 * ConvTranspose3d with kernel = stride = (2,2,2) and no padding (PRP's decoder): the 8 output positions of each input
 * voxel do not overlap, so it is one matMul [N·T·H·W, Cin] × [Cin, 8·Cout] and an interleave.
 * Weight layout [2,2,2,Cin,Cout].
 */
export function convTranspose3dStride2(x: tf.Tensor5D, w: tf.Tensor5D): tf.Tensor5D {
  const [n, t, h, wd, cin] = x.shape;
  const cout = w.shape[4];
  const wm = tf.transpose(w, [3, 0, 1, 2, 4]).reshape([cin, 8 * cout]);
  return depthToSpace2(matMul(x.reshape([n * t * h * wd, cin]), wm), n, t, h, wd, cout);
}

let tapMap: Float32Array | undefined;

/**
 * The 216 × 216 0/1 matrix (its values built once) that places the products of the 8 sub-positions a of an upsampled
 * voxel with the 27 taps d of a 3×3×3 filter onto the coarse taps δ and output parities p: along each axis the fine
 * offset p + (d − 1) lands on sub-position a of coarse neighbour δ − 1 where p + d + 1 = 2δ + a. Rows
 * (δh,δw,δt,pt,ph,pw), columns (at,ah,aw,dh,dw,dt).
 */
function upsampleTapMap(): tf.Tensor2D {
  tapMap ??= buildTapMap();
  return tf.tensor2d(tapMap, [216, 216]);
}

function buildTapMap(): Float32Array {
  const map = new Float32Array(216 * 216);
  const triples = (size: number) => Array.from({ length: size ** 3 }, (_, i) => [Math.floor(i / size ** 2), Math.floor(i / size) % size, i % size]);
  for (const [pt, ph, pw] of triples(2)) {
    for (const [dh, dw, dt] of triples(3)) {
      const [st, sh, sw] = [pt! + dt! + 1, ph! + dh! + 1, pw! + dw! + 1];
      const row = (((sh >> 1) * 3 + (sw >> 1)) * 3 + (st >> 1)) * 8 + (pt! * 4 + ph! * 2 + pw!);
      const col = ((st & 1) * 4 + (sh & 1) * 2 + (sw & 1)) * 27 + (dh! * 9 + dw! * 3 + dt!);
      map[row * 216 + col] = 1;
    }
  }
  return map;
}

/** Multiply-adds of composing the filters in upsampleConv3d (the product and the tap map). */
export function upsampleConvComposeCost(cin: number, cmid: number, cout: number): number {
  return 8 * (cin + 1) * cmid * 27 * cout + 216 * 216 * (cin + 1) * cout;
}

/**
 * conv3d(convTranspose3dStride2(x, up) + upBias, w) with a 3×3×3 filter w at stride 1 and padding 1 (a block of PRP's
 * decoder), computed on x's coarse grid: the two linear maps compose into one 3×3×3 convolution from Cin to 8·Cout
 * channels (one per output parity) followed by an interleave. The result and every gradient equal the two-layer
 * form up to rounding, but the upsampled Cmid-channel tensor never exists and the product has 8·Cout columns instead
 * of Cout (the decoder's last layer has 3, where GEMMs run far below peak). The transposed convolution's bias
 * contributes only where the 3×3×3 window lies inside the upsampled volume; it is the same composition applied to a
 * one-channel volume of ones, convolved with zero padding. Weights: up [2,2,2,Cin,Cmid], w [kh,kw,kt,Cmid,Cout].
 */
export function upsampleConv3d(x: tf.Tensor5D, up: tf.Tensor5D, upBias: tf.Tensor, w: tf.Tensor5D): tf.Tensor5D {
  const [n, t, h, wd, cin] = x.shape;
  const cmid = up.shape[4];
  const cout = w.shape[4];
  // Z[c, a, d, o] = Σ_m U[a, c, m]·W[d, m, o], with the bias as input channel c = Cin
  const withBias = tf.concat([up.reshape([8, cin, cmid]), tf.tile(upBias.reshape([1, 1, cmid]), [8, 1, 1])], 1);
  const left = tf.transpose(withBias, [1, 0, 2]).reshape([(cin + 1) * 8, cmid]);
  const right = tf.transpose(w.reshape([27, cmid, cout]), [1, 0, 2]).reshape([cmid, 27 * cout]);
  const z = tf.transpose(matMul(left, right).reshape([cin + 1, 216, cout]), [1, 0, 2]).reshape([216, (cin + 1) * cout]);
  // rows (δ, p), then [27, Cin + 1, 8·Cout]: the filter's taps, input channels and (parity, output channel)
  const placed = tf.transpose(matMul(upsampleTapMap(), z).reshape([27, 8, cin + 1, cout]), [0, 2, 1, 3]).reshape([27, cin + 1, 8 * cout]);
  const filter = placed.slice([0, 0, 0], [27, cin, 8 * cout]).reshape([3, 3, 3, cin, 8 * cout]) as tf.Tensor5D;
  const biasFilter = placed.slice([0, cin, 0], [27, 1, 8 * cout]).reshape([3, 3, 3, 1, 8 * cout]) as tf.Tensor5D;
  const coarse = conv3d(x, filter, [1, 1, 1], [1, 1, 1]);
  const field = conv3d(tf.ones([1, t, h, wd, 1]) as tf.Tensor5D, biasFilter, [1, 1, 1], [1, 1, 1], false);
  const sum = tf.add(coarse.reshape([n, t * h * wd * 8 * cout]), field.reshape([1, t * h * wd * 8 * cout]));
  return depthToSpace2(sum, n, t, h, wd, cout);
}

/**
 * Brings per-channel vectors [C] into a shape that combines element-wise with a [rows, C] tensor. wasm's broadcasting
 * multiply and add are fast only when C is a multiple of 4 from 16 up (measured on 786k elements: 0.6–1.4 ms there, but
 * 10–21 ms at C = 2 or 3, 2–8 ms at C = 4–11); below that a vector is first spread to [rows, C] by a [rows, 1] × [1, C]
 * product (about 1 ms) so that the element-wise op runs on equal shapes. The column of ones is made once, on first use.
 */
function perChannel(rows: number, channels: number): (v: tf.Tensor) => tf.Tensor {
  if (channels >= 16 && channels % 4 === 0) return (v) => v.reshape([1, channels]);
  let ones: tf.Tensor2D | undefined;
  return (v) => matMul((ones ??= tf.ones([rows, 1])), v.reshape([1, channels]));
}

/**
 * x + bias over the last axis, with the bias gradient as a [1, M] × [M, C] product: tf.add on a rank-5 tensor
 * broadcasts slowly and its gradient (tf.sum over four axes) took 110 ms for an [8, 32, 32, 32, 8] map on wasm.
 */
export function addBias(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const channels = x.shape[x.shape.length - 1]!;
  const rows = x.size / channels;
  const op = tf.customGrad(((xIn: tf.Tensor, bIn: tf.Tensor) => ({
    value: tf.add(xIn.reshape([rows, channels]), perChannel(rows, channels)(bIn)).reshape(xIn.shape),
    gradFunc: (dy: tf.Tensor) => [dy, matMul(tf.ones([1, rows]), dy.reshape([rows, channels])).reshape([channels])],
  })) as unknown as CustomGrad);
  return op(x, bias) as tf.Tensor;
}

/**
 * Batch normalisation in training mode (batch statistics over every axis but the last, biased variance, PyTorch's
 * formula) with an optional ReLU, as one op with an analytic gradient. Statistics are [1, M] × [M, C] products, and
 * every per-channel factor goes through `perChannel`, so narrow layers (the PRP decoder ends at 3 channels) avoid
 * wasm's slow broadcasts. The forward pass is y = (x − μ)·(γ·rstd) + β; the backward pass, with g the gradient after
 * the ReLU mask and c = x − μ, is dx = γ·rstd·(g − mean(g)) − γ·rstd³·mean(g·c)·c.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, relu: boolean, eps = 1e-5, layout: Layout = "last"): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const { simd } = activeBackend();
  if (simd !== undefined) return batchNormTrainSimd(simd, x, gamma, beta, relu, eps, layout === "first");
  if (layout === "first") {
    const out = batchNormTrain(relayout(x as tf.Tensor5D, "first", "last"), gamma, beta, relu, eps);
    return { ...out, y: relayout(out.y as tf.Tensor5D, "last", "first") };
  }
  const channels = x.shape[x.shape.length - 1]!;
  const rows = x.size / channels;
  const stats: { mean?: tf.Tensor; variance?: tf.Tensor } = {};
  const op = tf.customGrad(((xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const flat = xIn.reshape([rows, channels]);
    const spread = perChannel(rows, channels);
    const averager = tf.fill([1, rows], 1 / rows);
    const mean = matMul(averager, flat);
    const centered = tf.sub(flat, spread(mean));
    const variance = matMul(averager, tf.square(centered));
    const rstd = tf.rsqrt(tf.add(variance, eps));
    const scale = tf.mul(rstd, gIn);
    const affine = tf.add(tf.mul(centered, spread(scale)), spread(bIn));
    const out = relu ? tf.relu(affine) : affine;
    stats.mean = tf.keep(mean.reshape([channels]));
    stats.variance = tf.keep(variance.reshape([channels]));
    save([centered, out, rstd, scale]);
    return {
      value: out.reshape(xIn.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [c, o, r, k] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        let grad: tf.Tensor = dy.reshape([rows, channels]);
        if (relu) grad = tf.mul(grad, tf.step(o));
        const spreadBack = perChannel(rows, channels);
        const summer = tf.ones([1, rows]);
        const dBeta = matMul(summer, grad);
        const dotC = matMul(summer, tf.mul(grad, c)); // Σ g·c per channel
        const dGamma = tf.mul(dotC, r);
        // dx = k·g + (−k·r²·Σg·c / M)·c + (−k·Σg / M)
        const onC = tf.mul(tf.neg(k), tf.div(tf.mul(tf.square(r), dotC), rows));
        const shift = tf.mul(tf.neg(k), tf.div(dBeta, rows));
        const dx = tf.add(tf.add(tf.mul(grad, spreadBack(k)), tf.mul(c, spreadBack(onC))), spreadBack(shift));
        return [dx.reshape(xIn.shape), dGamma.reshape([channels]), dBeta.reshape([channels])];
      },
    };
  }) as unknown as CustomGrad);
  const y = op(x, gamma, beta) as tf.Tensor;
  return { y, mean: stats.mean!, variance: stats.variance! };
}

/** batchNormTrain on clipflow's SIMD kernels (simdKernels.ts): two passes over the activations each way. */
function batchNormTrainSimd(kernels: SimdKernels, x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, relu: boolean, eps: number, channelsFirst: boolean): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
  const stats: { mean?: tf.Tensor; variance?: tf.Tensor } = {};
  const op = tf.customGrad(((xIn: tf.Tensor, gIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const { y, mean, variance } = kernels.batchNormForward(xIn, gIn, bIn, eps, relu, channelsFirst);
    stats.mean = tf.keep(mean);
    stats.variance = tf.keep(variance);
    save([xIn, y, gIn, mean, variance]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys, gs, ms, vs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return kernels.batchNormBackward(dy, ys, xs, gs, ms, vs, eps, relu, channelsFirst);
      },
    };
  }) as unknown as CustomGrad);
  const y = op(x, gamma, beta) as tf.Tensor;
  return { y, mean: stats.mean!, variance: stats.variance! };
}

/** Batch normalisation over every axis but the last with given statistics (evaluation mode: the running ones). */
export function batchNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, stats: { mean: tf.Tensor; variance: tf.Tensor }, eps = 1e-5, layout: Layout = "last"): tf.Tensor {
  if (layout === "first") return relayout(batchNorm(relayout(x as tf.Tensor5D, "first", "last"), gamma, beta, stats, eps) as tf.Tensor5D, "last", "first");
  const channels = x.shape[x.shape.length - 1]!;
  const rows = x.size / channels;
  const scale = tf.mul(tf.rsqrt(tf.add(stats.variance, eps)), gamma);
  const shift = tf.sub(beta, tf.mul(stats.mean, scale));
  const spread = perChannel(rows, channels);
  return tf.add(tf.mul(x.reshape([rows, channels]), spread(scale)), spread(shift)).reshape(x.shape);
}
