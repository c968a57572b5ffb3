/**
 * PRP, playback rate perception (Yao et al., CVPR 2020): dilated sampling, the slow-motion reconstruction target and
 * the "DPAU" motion attention map, as in METHODS.md §1.
 * - Dilated sampling: rate s from {1,2,4,8} (label = its index), 16·s consecutive frames from a uniform start in
 *   [0, N − 16s − 1]; the encoder sees every s-th frame.
 * - Target: 32 frames at stride s/2 over the same span; for s = 1 real frames interleave with averages of neighbours
 *   (the last is a copy of frame 15) and flags mark the real ones, the only ones the loss counts.
 * - Motion attention (DPAU): per 16-frame chunk of the dense span, squared differences of frames 0/5/10/15 per channel,
 *   3-map × 28×28 average pooling at stride 7, per-channel min-max to [0.8, 2.0] (all ones for a static chunk),
 *   bilinear upsampling back to H×W (align_corners false), constant over the chunk's 32/s target frames.
 */
import { ClipflowError } from "../core/errors.ts";
import { rngFromSeed } from "../core/rng.ts";

export interface DilatedPlan {
  rate: number;
  /** Index of the rate in the rate list: the classification label. */
  label: number;
  start: number;
  /** The 16·s consecutive frames of the span. */
  dense: number[];
  /** Every s-th frame: the encoder's clip. */
  encoder: number[];
  /** The frames of the span that PRP's views read (ascending): what the sampler decodes (see `prpSpanOffsets`). */
  read: number[];
}

export interface DilatedInput {
  frameCount: number;
  rates: readonly number[];
  clipFrames: number;
  seed: number;
  /** When the drawn rate does not fit: "error" (TooShort) or "lowerRate" (the largest rate that fits). */
  shortVideo: "error" | "lowerRate";
  /** The motion map that will be made ("ones" reads no frames for it; default "dpau"). */
  motion?: "dpau" | "ones" | undefined;
}

export function dilatedPlan(input: DilatedInput): DilatedPlan {
  const { frameCount: n, rates, clipFrames } = input;
  const rng = rngFromSeed(input.seed);
  let label = rng.int(0, rates.length - 1);
  const fits = (s: number) => n >= clipFrames * s + 1;
  if (!fits(rates[label] as number)) {
    if (input.shortVideo === "error") {
      throw new ClipflowError("TooShort", `rate ${rates[label]} needs ${clipFrames * (rates[label] as number) + 1} frames, the video has ${n}`);
    }
    const fitting = rates.map((s, i) => [s, i] as const).filter(([s]) => fits(s));
    if (fitting.length === 0) throw new ClipflowError("TooShort", `no rate fits: the video has ${n} frames`);
    label = fitting.reduce((best, candidate) => (candidate[0] > best[0] ? candidate : best))[1];
  }
  const rate = rates[label] as number;
  const start = rng.int(0, n - clipFrames * rate - 1);
  const dense = Array.from({ length: clipFrames * rate }, (_, k) => start + k);
  const read = clipFrames === 16 ? prpSpanOffsets(rate, input.motion ?? "dpau").map((k) => start + k) : dense;
  return { rate, label, start, dense, encoder: dense.filter((_, k) => k % rate === 0), read };
}

/**
 * The offsets in the 16·s-frame span that PRP's views read: the encoder clip (every s-th), the target's sources
 * (every s/2-th; for s = 1 all 16) and, for the DPAU map, frames 0/5/10/15 of every 16-frame chunk. For s = 4 that is
 * 40 of 64 frames, for s = 8 56 of 128: the sampler decodes and scales only these (the others are decoded only when
 * later frames reference them) and the kernels below take them in place of the whole span.
 */
export function prpSpanOffsets(rate: number, motion: "dpau" | "ones"): number[] {
  const span = 16 * rate;
  const read = new Set<number>();
  for (let k = 0; k < span; k += rate) read.add(k);
  const { from, next } = targetPlan(span, rate);
  for (let k = 0; k < from.length; k++) read.add(from[k] as number).add(next[k] as number);
  if (motion === "dpau") for (let chunk = 0; chunk < span; chunk += 16) for (const pick of dpauPicks) read.add(chunk + pick);
  return [...read].sort((a, b) => a - b);
}

/** Frames of the span read through `offsets` (when given: input.dense holds only those frames, in that order). */
interface SpanInput {
  /** The span's frames, THWC uint8: all 16·s, or only those listed in `offsets`. */
  dense: Uint8Array;
  /** [frames held, H, W, C]. */
  shape: [number, number, number, number];
  rate: number;
  /** Positions in the span of the frames held (ascending; see `prpSpanOffsets`); absent: the whole span is held. */
  offsets?: readonly number[] | undefined;
}

/** The span's length and a reader of its frame j (a KernelError when that frame is not held). */
function spanReader(input: SpanInput): { span: number; frame: number; at: (j: number) => Uint8Array } {
  const [held, h, w, c] = input.shape;
  const frame = h * w * c;
  if (input.dense.length !== held * frame) throw new ClipflowError("KernelError", `the span holds ${input.dense.length} bytes, its shape says ${held} frames of ${frame}`, { field: "dense" });
  const { offsets } = input;
  if (offsets === undefined) return { span: held, frame, at: (j) => input.dense.subarray(j * frame, (j + 1) * frame) };
  if (offsets.length !== held) throw new ClipflowError("KernelError", `${offsets.length} span offsets for ${held} frames`, { field: "offsets" });
  const span = 16 * input.rate;
  const position = new Int32Array(span).fill(-1);
  offsets.forEach((o, i) => {
    if (!Number.isInteger(o) || o < 0 || o >= span || (i > 0 && o <= (offsets[i - 1] as number))) {
      throw new ClipflowError("KernelError", `span offsets must ascend within [0, ${span}), got ${o} at ${i}`, { field: "offsets" });
    }
    position[o] = i;
  });
  return {
    span,
    frame,
    at: (j) => {
      const i = position[j] ?? -1;
      if (i < 0) throw new ClipflowError("KernelError", `frame ${j} of the span is needed but was not decoded`, { field: "offsets" });
      return input.dense.subarray(i * frame, (i + 1) * frame);
    },
  };
}

export type PrpTargetInput = SpanInput;

/**
 * Where each target frame comes from: frame k of the 32 is span frame `from[k]`, or, when `next[k]` differs from it
 * (s = 1, odd k), the average of the two; flag 1 marks real frames.
 */
function targetPlan(span: number, rate: number): { from: Int32Array; next: Int32Array; flags: Float32Array } {
  if (span % rate !== 0 || (rate > 1 && rate % 2 !== 0)) throw new ClipflowError("ConfigError", `rate ${rate} does not divide the span of ${span} frames`);
  const out = 2 * (span / rate);
  const from = new Int32Array(out);
  const next = new Int32Array(out);
  const flags = new Float32Array(out);
  for (let k = 0; k < out; k++) {
    // s = 1: real frames at even k, averages of frames j and j + 1 (the last one repeated) at odd k; else stride s/2
    const j = rate === 1 ? k >> 1 : k * (rate / 2);
    from[k] = j;
    next[k] = rate === 1 && k % 2 === 1 && j < span - 1 ? j + 1 : j;
    flags[k] = rate === 1 && k % 2 === 1 ? 0 : 1;
  }
  return { from, next, flags };
}

/** The 32-frame reconstruction target in [0, 1] (THWC float32) and its real-frame flags. */
export function prpTarget(input: PrpTargetInput): { target: Float32Array; flags: Float32Array; shape: [number, number, number, number] } {
  const { span, frame, at } = spanReader(input);
  const { from, next, flags } = targetPlan(span, input.rate);
  const target = new Float32Array(from.length * frame);
  for (let k = 0; k < from.length; k++) {
    const a = at(from[k] as number);
    const b = at(next[k] as number);
    for (let i = 0; i < frame; i++) target[k * frame + i] = ((a[i] as number) / 255 + (b[i] as number) / 255) / 2;
  }
  return { target, flags, shape: [from.length, input.shape[1], input.shape[2], input.shape[3]] };
}

/** `prpTarget` as bytes (×255): real frames copied, s = 1 averages rounded half up ((a + b + 1) >> 1). */
export function prpTargetBytes(input: PrpTargetInput): { target: Uint8Array; flags: Float32Array; shape: [number, number, number, number] } {
  const { span, frame, at } = spanReader(input);
  const { from, next, flags } = targetPlan(span, input.rate);
  const target = new Uint8Array(from.length * frame);
  for (let k = 0; k < from.length; k++) {
    const a = at(from[k] as number);
    if (from[k] === next[k]) target.set(a, k * frame);
    else {
      const b = at(next[k] as number);
      for (let i = 0; i < frame; i++) target[k * frame + i] = ((a[i] as number) + (b[i] as number) + 1) >> 1;
    }
  }
  return { target, flags, shape: [from.length, input.shape[1], input.shape[2], input.shape[3]] };
}

export interface MotionAttentionInput extends SpanInput {
  mode: "dpau" | "ones";
  /** Pooling window and stride (28 and 7 at 112×112). */
  patch?: number | undefined;
  poolStride?: number | undefined;
}

/** Source taps of bilinear resizing along one axis (align_corners = false, edges clamped): i0, i1 and the weight of i1. */
function bilinearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; frac: Float64Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const frac = new Float64Array(outSize);
  for (let dst = 0; dst < outSize; dst++) {
    const s = Math.max(0, (dst + 0.5) * (inSize / outSize) - 0.5);
    const lo = Math.min(Math.floor(s), inSize - 1);
    i0[dst] = lo;
    i1[dst] = Math.min(lo + 1, inSize - 1);
    frac[dst] = s - lo;
  }
  return { i0, i1, frac };
}

/** Bilinear resize of one channel plane (align_corners = false, edges clamped), as torch's interpolate. */
function upsamplePlane(src: Float64Array, inH: number, inW: number, outH: number, outW: number): Float64Array {
  const out = new Float64Array(outH * outW);
  const ys = bilinearTaps(inH, outH);
  const xs = bilinearTaps(inW, outW);
  for (let y = 0; y < outH; y++) {
    const r0 = (ys.i0[y] as number) * inW;
    const r1 = (ys.i1[y] as number) * inW;
    const ly = ys.frac[y] as number;
    for (let x = 0; x < outW; x++) {
      const x0 = xs.i0[x] as number;
      const x1 = xs.i1[x] as number;
      const lx = xs.frac[x] as number;
      const top = (src[r0 + x0] as number) * (1 - lx) + (src[r0 + x1] as number) * lx;
      const bottom = (src[r1 + x0] as number) * (1 - lx) + (src[r1 + x1] as number) * lx;
      out[y * outW + x] = top * (1 - ly) + bottom * ly;
    }
  }
  return out;
}

/** The per-chunk pooled, normalised maps (13×13×C at 112×112), exposed for tests against the reference. */
export function dpauCells(chunk: Uint8Array, shape: [number, number, number, number], patch: number, stride: number): { cells: Float64Array; size: [number, number] } {
  const [t, h, w, c] = shape;
  if (t !== 16) throw new ClipflowError("ConfigError", `a DPAU chunk has 16 frames, got ${t}`);
  const frame = h * w * c;
  return dpauCellsOf(dpauPicks.map((pick) => chunk.subarray(pick * frame, (pick + 1) * frame)), [h, w, c], patch, stride);
}

/** The frames of a 16-frame chunk that DPAU compares. */
const dpauPicks = [0, 5, 10, 15] as const;

/** DPAU's cells from the chunk's picked frames (`dpauPicks`), each [H, W, C]. */
function dpauCellsOf(picked: Uint8Array[], [h, w, c]: [number, number, number], patch: number, stride: number): { cells: Float64Array; size: [number, number] } {
  const frame = h * w * c;
  const ph = Math.floor((h - patch) / stride) + 1;
  const pw = Math.floor((w - patch) / stride) + 1;
  // the three squared differences per pixel and channel as exact integers (sums of at most 3·255² per pixel, of at
  // most patch² pixels in a box: exact in float64), so the box sums below may use running totals without rounding;
  // the pool's 1/(3·patch²) and the 1/255² of [0, 1] pixels are applied once at the end
  const energy = new Float64Array(frame);
  const [f0, f1, f2, f3] = picked as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  for (let i = 0; i < frame; i++) {
    const d1 = (f1[i] as number) - (f0[i] as number);
    const d2 = (f2[i] as number) - (f1[i] as number);
    const d3 = (f3[i] as number) - (f2[i] as number);
    energy[i] = d1 * d1 + d2 * d2 + d3 * d3;
  }
  // average pool as two box sums, each a difference of running totals (all channels side by side): along x for every
  // row, then along y
  const across = new Float64Array(h * pw * c);
  const running = new Float64Array((Math.max(h, w) + 1) * c);
  for (let y = 0; y < h; y++) {
    const row = y * w * c;
    for (let i = 0; i < w * c; i++) running[i + c] = (running[i] as number) + (energy[row + i] as number);
    for (let cx = 0; cx < pw; cx++) {
      const lo = cx * stride * c;
      const hi = (cx * stride + patch) * c;
      for (let ch = 0; ch < c; ch++) across[(y * pw + cx) * c + ch] = (running[hi + ch] as number) - (running[lo + ch] as number);
    }
  }
  const cells = new Float64Array(ph * pw * c);
  const scale = 1 / (3 * patch * patch * 255 * 255);
  const line = pw * c;
  const columns = new Float64Array((h + 1) * line);
  for (let y = 0; y < h; y++) for (let i = 0; i < line; i++) columns[(y + 1) * line + i] = (columns[y * line + i] as number) + (across[y * line + i] as number);
  for (let cy = 0; cy < ph; cy++) {
    const lo = cy * stride * line;
    const hi = (cy * stride + patch) * line;
    for (let i = 0; i < line; i++) cells[cy * line + i] = ((columns[hi + i] as number) - (columns[lo + i] as number)) * scale;
  }
  let anyRange = false;
  for (let ch = 0; ch < c; ch++) {
    let min = Infinity;
    let max = -Infinity;
    for (let i = ch; i < cells.length; i += c) {
      min = Math.min(min, cells[i] as number);
      max = Math.max(max, cells[i] as number);
    }
    if (max - min > 0) anyRange = true;
    for (let i = ch; i < cells.length; i += c) cells[i] = 0.8 + 1.2 * (((cells[i] as number) - min + 1e-6) / (max - min + 1e-6));
  }
  if (!anyRange) cells.fill(1);
  return { cells, size: [ph, pw] };
}

/**
 * The motion map per target frame at cell resolution: float32 [32, ph, pw, C] (13×13 at 112×112; [32, 1, 1, C] of ones
 * in mode "ones"). Frame j of the 32-frame target takes the cells of chunk ⌊j·s/32⌋ (the map is constant in time within
 * a chunk). `expandMotion` (here) or the train step (bilinear, align_corners = false) brings it to H×W: 1/500 of the
 * bytes of the full map, which used to dominate what each sample carried to the model step.
 */
export function motionCells(input: MotionAttentionInput): { cells: Float32Array; shape: [number, number, number, number] } {
  const [, h, w, c] = input.shape;
  const { rate } = input;
  const { span, at } = spanReader(input);
  const chunks = span / 16;
  if (!Number.isInteger(chunks) || chunks !== rate) throw new ClipflowError("ConfigError", `motion attention needs 16·s = ${16 * rate} dense frames, got ${span}`);
  if (input.mode === "ones") return { cells: new Float32Array(32 * c).fill(1), shape: [32, 1, 1, c] };
  const perChunk = 32 / rate;
  const patch = input.patch ?? Math.round((28 * Math.min(h, w)) / 112);
  const stride = input.poolStride ?? Math.max(1, Math.round((7 * Math.min(h, w)) / 112));
  let out: Float32Array | undefined;
  let shape: [number, number, number, number] = [32, 1, 1, c];
  for (let k = 0; k < chunks; k++) {
    const { cells, size } = dpauCellsOf(dpauPicks.map((pick) => at(16 * k + pick)), [h, w, c], patch, stride);
    shape = [32, size[0], size[1], c];
    out ??= new Float32Array(32 * cells.length);
    for (let j = 0; j < perChunk; j++) out.set(cells, (k * perChunk + j) * cells.length);
  }
  return { cells: out!, shape };
}

/** Cell maps [T, ph, pw, C] brought to [T, H, W, C] by bilinear resizing (align_corners = false, edges clamped). */
export function expandMotion(cells: Float32Array, shape: [number, number, number, number], h: number, w: number): Float32Array {
  const [t, ph, pw, c] = shape;
  const out = new Float32Array(t * h * w * c);
  const plane = new Float64Array(ph * pw);
  for (let k = 0; k < t; k++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < plane.length; i++) plane[i] = cells[(k * ph * pw + i) * c + ch] as number;
      const up = upsamplePlane(plane, ph, pw, h, w);
      for (let i = 0; i < h * w; i++) out[(k * h * w + i) * c + ch] = up[i] as number;
    }
  }
  return out;
}

/** The motion weight M aligned with the 32-frame target at full resolution: THWC float32 [32, H, W, C]. */
export function motionAttention(input: MotionAttentionInput): { weight: Float32Array; shape: [number, number, number, number] } {
  const [, h, w, c] = input.shape;
  const { cells, shape } = motionCells(input);
  // the 32 frames repeat s chunk maps: resize each chunk's map once, then copy it to its frames
  const [, ph, pw] = shape;
  const cellFrame = ph * pw * c;
  const frame = h * w * c;
  const perChunk = 32 / input.rate;
  const firsts = new Float32Array(input.rate * cellFrame);
  for (let k = 0; k < input.rate; k++) firsts.set(cells.subarray(k * perChunk * cellFrame, (k * perChunk + 1) * cellFrame), k * cellFrame);
  const chunkMaps = expandMotion(firsts, [input.rate, ph, pw, c], h, w);
  const weight = new Float32Array(32 * frame);
  for (let j = 0; j < 32; j++) weight.set(chunkMaps.subarray(Math.floor(j / perChunk) * frame, (Math.floor(j / perChunk) + 1) * frame), j * frame);
  return { weight, shape: [32, h, w, c] };
}

/**
 * Everything PRP trains on, from the dense span in one kernel (the span is read once): the encoder clip (every s-th
 * frame) and the 32-frame target as bytes, the target's real-frame flags, and the motion map at cell resolution
 * (`motionCells`). Target frames that are averages (s = 1, flag 0: the loss masks them out) are rounded to the nearest
 * byte; every frame the loss sees is exact. The clip is the target's even frames, byte for byte (for s ≥ 2 the
 * target's stride is s/2; for s = 1 its even frames are the real ones): `clip: false` leaves it out (empty).
 */
export function prpViews(input: MotionAttentionInput & { clip?: boolean }): {
  clip: Uint8Array;
  clipShape: [number, number, number, number];
  target: Uint8Array;
  flags: Float32Array;
  targetShape: [number, number, number, number];
  motion: Float32Array;
  motionShape: [number, number, number, number];
} {
  const [, h, w, c] = input.shape;
  const { span, frame, at } = spanReader(input);
  const frames = span / input.rate;
  const clip = new Uint8Array(input.clip === false ? 0 : frames * frame);
  if (input.clip !== false) for (let k = 0; k < frames; k++) clip.set(at(k * input.rate), k * frame);
  const { target, flags, shape } = prpTargetBytes(input);
  const { cells, shape: motionShape } = motionCells(input);
  return { clip, clipShape: [frames, h, w, c], target, flags, targetShape: shape, motion: cells, motionShape };
}
