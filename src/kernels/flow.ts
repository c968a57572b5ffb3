/**
 * Optical flow of a clip, frame t → t+1 on OpenCV's luma, by TV-L1 (CoCLR's reference, METHODS.md §3) or the fast
 * Farnebäck method, returned either as float (u, v) or quantised as CoCLR stores it: u and v clipped to ±bound and
 * mapped to round((f + bound)·255 / 2·bound) with numpy's round-half-to-even, plus a constant 128 third channel, so a
 * flow view has three channels like an RGB one. T frames give T − 1 flow frames. Channel order here is (u, v, 128);
 * the reference's files hold (128, v, u) when read as RGB (OpenCV writes BGR), which src/io/flowStore.ts handles.
 */
import { ClipflowError } from "../core/errors.ts";
import { expandFrame, farnebackBetween, type FarnebackParams } from "./farneback.ts";
import { roundHalfEven, toGray, type Plane } from "./flowImage.ts";
import { tvl1Flow, type Flow, type Tvl1Params } from "./tvl1.ts";

export type FlowMethod = "tvl1" | "farneback";

export interface OpticalFlowInput {
  /** uint8 THWC frames, RGB (C = 3) or gray (C = 1). */
  data: Uint8Array;
  shape: [number, number, number, number];
  method: FlowMethod;
  tvl1?: Partial<Tvl1Params> | undefined;
  farneback?: Partial<FarnebackParams> | undefined;
  /** Clip magnitude for quantisation (CoCLR: 20). */
  bound: number;
  output: "quantized" | "float";
}

export interface OpticalFlowOutput {
  data: Uint8Array | Float32Array;
  /** [T − 1, H, W, 3] quantised (u, v, 128) or [T − 1, H, W, 2] float (u, v). */
  shape: [number, number, number, number];
}

/** Writes one flow field into `out` at `offset` as CoCLR's quantised (u, v, 128) pixels. */
export function quantizeFlow(flow: Flow, bound: number, out: Uint8Array, offset: number): void {
  const scale = 255 / (2 * bound);
  for (let i = 0; i < flow.u.length; i += 1) {
    const u = Math.min(bound, Math.max(-bound, flow.u[i]!));
    const v = Math.min(bound, Math.max(-bound, flow.v[i]!));
    const o = offset + i * 3;
    out[o] = roundHalfEven((u + bound) * scale);
    out[o + 1] = roundHalfEven((v + bound) * scale);
    out[o + 2] = 128;
  }
}

/** The inverse of quantizeFlow up to the quantisation step (2·bound/255 px). */
export function dequantize(q: number, bound: number): number {
  return (q * 2 * bound) / 255 - bound;
}

export function opticalFlow(input: OpticalFlowInput): OpticalFlowOutput {
  const [t, h, w, c] = input.shape;
  if (c !== 1 && c !== 3) throw new ClipflowError("ConfigError", `optical flow needs gray or RGB frames, got ${c} channels`);
  if (t < 2) throw new ClipflowError("TooShort", `optical flow needs at least 2 frames, got ${t}`);
  if (w < 8 || h < 8) throw new ClipflowError("ConfigError", `optical flow needs frames of at least 8×8, got ${w}×${h}`);
  const frame = h * w * c;
  const gray = (k: number): Plane =>
    c === 3 ? toGray(input.data, k * frame, w, h) : { data: Float32Array.from(input.data.subarray(k * frame, (k + 1) * frame)), width: w, height: h };
  const pairs = t - 1;
  const quantized = input.output === "quantized";
  const out = quantized ? new Uint8Array(pairs * h * w * 3) : new Float32Array(pairs * h * w * 2);
  let previous = gray(0);
  let previousExpansion = input.method === "farneback" ? expandFrame(previous, input.farneback) : undefined;
  for (let k = 0; k < pairs; k += 1) {
    const next = gray(k + 1);
    let flow: Flow;
    if (previousExpansion !== undefined) {
      const nextExpansion = expandFrame(next, input.farneback);
      flow = farnebackBetween(previousExpansion, nextExpansion, input.farneback);
      previousExpansion = nextExpansion;
    } else {
      flow = tvl1Flow(previous, next, input.tvl1);
    }
    if (out instanceof Uint8Array) quantizeFlow(flow, input.bound, out, k * h * w * 3);
    else {
      for (let i = 0; i < flow.u.length; i += 1) {
        out[(k * h * w + i) * 2] = flow.u[i]!;
        out[(k * h * w + i) * 2 + 1] = flow.v[i]!;
      }
    }
    previous = next;
  }
  return { data: out, shape: [pairs, h, w, quantized ? 3 : 2] };
}
