/**
 * Colour augmentation with torchvision's semantics on [0, 1] floats (ColorJitter, RandomGrayscale; used by VTDL's
 * and CoCLR's recipes, METHODS.md §2–3). One set of parameters per clip, shared by all its frames:
 * - brightness b: x·b; contrast c: c·x + (1 − c)·mean(gray(frame)); saturation s: s·x + (1 − s)·gray(x), each clamped to
 *   [0, 1]; hue h ∈ [−0.5, 0.5]: rotate the HSV hue by h (mod 1). gray = 0.2989 R + 0.587 G + 0.114 B (torchvision).
 * - The four are applied in a random order (a permutation drawn per clip). `lastOnly` reproduces the VTDL reference's
 *   quirk, where only the last op of the shuffled list took effect.
 * uint8 input is scaled to [0, 1] and rounded back to uint8 on output (as PIL-based pipelines quantise).
 */
import type { Rng } from "../core/rng.ts";

export type ColourOp = "brightness" | "contrast" | "saturation" | "hue";

export interface ColourJitterParams {
  order: ColourOp[];
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  grayscale: boolean;
  /** Channel copied into all three when grayscale is "channel" (CoCLR's random channel-gray). */
  grayChannel?: number;
}

export interface ColourJitterRanges {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  /** Probability of converting the clip to gray (RandomGrayscale). */
  grayscale?: number;
  /** "luminance": 0.2989 R + 0.587 G + 0.114 B (torchvision); "channel": one random channel copied to all three (CoCLR). */
  grayMode?: "luminance" | "channel";
}

/** Draws one clip's parameters: factors uniform in [max(0, 1 − v), 1 + v], hue uniform in [−h, h], a random order. */
export function drawColourJitter(rng: Rng, ranges: ColourJitterRanges): ColourJitterParams {
  const order = rng.shuffle(["brightness", "contrast", "saturation", "hue"] as ColourOp[]);
  const factor = (v: number) => (v > 0 ? rng.uniform(Math.max(0, 1 - v), 1 + v) : 1);
  return {
    order,
    brightness: factor(ranges.brightness),
    contrast: factor(ranges.contrast),
    saturation: factor(ranges.saturation),
    hue: ranges.hue > 0 ? rng.uniform(-ranges.hue, ranges.hue) : 0,
    grayscale: rng.bernoulli(ranges.grayscale ?? 0),
    ...(ranges.grayMode === "channel" ? { grayChannel: rng.int(0, 2) } : {}),
  };
}

const clamp = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
const grayOf = (r: number, g: number, b: number) => 0.2989 * r + 0.587 * g + 0.114 * b;

function hueShift(px: Float32Array, i: number, shift: number): void {
  const r = px[i]!;
  const g = px[i + 1]!;
  const b = px[i + 2]!;
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const delta = max - min;
  let h = 0;
  if (delta > 0) {
    if (max === r) h = ((g - b) / delta) % 6;
    else if (max === g) h = (b - r) / delta + 2;
    else h = (r - g) / delta + 4;
    h /= 6;
  }
  h = (((h + shift) % 1) + 1) % 1;
  const s = max === 0 ? 0 : delta / max;
  const v = max;
  const sector = Math.floor(h * 6) % 6;
  const f = h * 6 - Math.floor(h * 6);
  const p = v * (1 - s);
  const q = v * (1 - s * f);
  const t = v * (1 - s * (1 - f));
  const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][sector]!;
  px[i] = rgb[0]!;
  px[i + 1] = rgb[1]!;
  px[i + 2] = rgb[2]!;
}

function applyOp(px: Float32Array, frames: number, frameSize: number, op: ColourOp, params: ColourJitterParams): void {
  if (op === "brightness") {
    for (let i = 0; i < px.length; i += 1) px[i] = clamp(px[i]! * params.brightness);
  } else if (op === "contrast") {
    const c = params.contrast;
    for (let f = 0; f < frames; f += 1) {
      const start = f * frameSize;
      let sum = 0;
      for (let i = start; i < start + frameSize; i += 3) sum += grayOf(px[i]!, px[i + 1]!, px[i + 2]!);
      const mean = sum / (frameSize / 3);
      for (let i = start; i < start + frameSize; i += 1) px[i] = clamp(c * px[i]! + (1 - c) * mean);
    }
  } else if (op === "saturation") {
    const s = params.saturation;
    for (let i = 0; i < px.length; i += 3) {
      const gray = grayOf(px[i]!, px[i + 1]!, px[i + 2]!);
      for (let k = 0; k < 3; k += 1) px[i + k] = clamp(s * px[i + k]! + (1 - s) * gray);
    }
  } else if (params.hue !== 0) {
    for (let i = 0; i < px.length; i += 3) hueShift(px, i, params.hue);
  }
}

export interface ColourJitterInput {
  data: Uint8Array | Float32Array;
  shape: [number, number, number, number];
  params: ColourJitterParams;
  lastOnly?: boolean;
}

/** Applies a clip's colour parameters to THWC RGB frames; returns the same dtype as the input. */
export function colourJitter(input: ColourJitterInput): { data: Uint8Array | Float32Array; shape: [number, number, number, number] } {
  const [t, h, w, c] = input.shape;
  if (c !== 3) throw new RangeError(`colour jitter needs RGB frames (3 channels), got ${c}`);
  const px = input.data instanceof Uint8Array ? Float32Array.from(input.data, (v) => v / 255) : Float32Array.from(input.data);
  const ops = input.lastOnly ? input.params.order.slice(-1) : input.params.order;
  for (const op of ops) applyOp(px, t, h * w * 3, op, input.params);
  if (input.params.grayscale) {
    const channel = input.params.grayChannel;
    for (let i = 0; i < px.length; i += 3) {
      const gray = channel === undefined ? grayOf(px[i]!, px[i + 1]!, px[i + 2]!) : px[i + channel]!;
      px[i] = gray;
      px[i + 1] = gray;
      px[i + 2] = gray;
    }
  }
  const data = input.data instanceof Uint8Array ? Uint8Array.from(px, (v) => Math.round(v * 255)) : px;
  return { data, shape: input.shape };
}

export interface GaussianBlurInput {
  data: Uint8Array | Float32Array;
  shape: [number, number, number, number];
  /** Odd kernel size. */
  kernelSize: number;
  sigma: number;
}

/** torchvision's 1D Gaussian kernel: x = −(k−1)/2 … (k−1)/2, exp(−x²/2σ²), normalised to sum 1. */
export function gaussianKernel1d(size: number, sigma: number): Float64Array {
  const half = (size - 1) / 2;
  const kernel = Float64Array.from({ length: size }, (_, i) => Math.exp(-0.5 * ((i - half) / sigma) ** 2));
  const sum = kernel.reduce((a, b) => a + b, 0);
  return kernel.map((v) => v / sum);
}

/**
 * Gaussian blur with torchvision's semantics (`F.gaussian_blur` on tensors, as MoCo-v2-style recipes use it): separable
 * kernel of odd size, reflect padding of size/2 on each side, every frame and channel independently. uint8 in, rounded
 * uint8 out (torchvision converts PIL images to tensors and back).
 */
export function gaussianBlur(input: GaussianBlurInput): { data: Uint8Array | Float32Array; shape: [number, number, number, number] } {
  const [t, h, w, c] = input.shape;
  const size = input.kernelSize;
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new RangeError(`gaussian blur needs an odd kernel size, got ${size}`);
  if (!(input.sigma > 0)) throw new RangeError(`gaussian blur needs sigma > 0, got ${input.sigma}`);
  const half = (size - 1) / 2;
  if (half >= h || half >= w) throw new RangeError(`kernel size ${size} needs frames larger than ${half}×${half} for reflect padding, got ${w}×${h}`);
  const kernel = gaussianKernel1d(size, input.sigma);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const scale = input.data instanceof Uint8Array ? 1 / 255 : 1;
  const rows = new Float64Array(h * w * c);
  const out = input.data instanceof Uint8Array ? new Uint8Array(input.data.length) : new Float32Array(input.data.length);
  const frame = h * w * c;
  for (let f = 0; f < t; f += 1) {
    const base = f * frame;
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        for (let k = 0; k < c; k += 1) {
          let sum = 0;
          for (let i = 0; i < size; i += 1) sum += kernel[i]! * input.data[base + (y * w + reflect(x + i - half, w)) * c + k]! * scale;
          rows[(y * w + x) * c + k] = sum;
        }
      }
    }
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        for (let k = 0; k < c; k += 1) {
          let sum = 0;
          for (let i = 0; i < size; i += 1) sum += kernel[i]! * rows[(reflect(y + i - half, h) * w + x) * c + k]!;
          out[base + (y * w + x) * c + k] = out instanceof Uint8Array ? Math.round(Math.min(1, Math.max(0, sum)) * 255) : sum;
        }
      }
    }
  }
  return { data: out, shape: input.shape };
}
