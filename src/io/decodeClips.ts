/**
 * The decode task that runs in a worker: opens a video once, plans its clips with the clip sampler (from the frame
 * count and rate the container reports), decodes the union of their frames in one pass, and returns one THWC array
 * per clip with the frame indices and pts each frame came from.
 */
import { ClipflowError } from "../core/errors.ts";
import { clipIndices, type ClipSamplerConfig } from "../kernels/clipIndices.ts";
import { dilatedPlan, type DilatedInput, type DilatedPlan } from "../kernels/prp.ts";
import { decodeLibav } from "./decoders/libav.ts";
import type { DecodeLimits, Geometry, VideoInfo } from "./decoders/types.ts";

export interface DecodeClipsInput {
  uri: string;
  sampler: ClipSamplerConfig;
  seed: number;
  geometry?: Geometry | undefined;
  format?: "rgb24" | "gray" | undefined;
  limits?: Partial<DecodeLimits> | undefined;
}

export interface DecodedClip {
  data: Uint8Array;
  shape: [number, number, number, number];
  indices: number[];
  pts: number[];
}

export interface DecodeClipsOutput {
  clips: DecodedClip[];
  info: VideoInfo;
}

/** Cuts clips (lists of indices) out of frames decoded once for their union. */
export function assembleClips(frames: { data: Uint8Array; shape: [number, number, number, number]; indices: number[]; pts: number[] }, plans: number[][]): DecodedClip[] {
  const [, h, w, c] = frames.shape;
  const frameBytes = h * w * c;
  const position = new Map(frames.indices.map((index, i) => [index, i]));
  return plans.map((plan) => {
    const data = new Uint8Array(frameBytes * plan.length);
    const pts: number[] = [];
    plan.forEach((index, t) => {
      const at = position.get(index);
      if (at === undefined) throw new ClipflowError("DecodeError", `frame ${index} was planned but not decoded`);
      data.set(frames.data.subarray(at * frameBytes, (at + 1) * frameBytes), t * frameBytes);
      pts.push(frames.pts[at] as number);
    });
    return { data, shape: [plan.length, h, w, c], indices: plan.slice(), pts };
  });
}

export function decodeClips(input: DecodeClipsInput): DecodeClipsOutput {
  let plans: number[][] = [];
  const frames = decodeLibav(
    { uri: input.uri, indices: [], geometry: input.geometry, format: input.format, limits: input.limits },
    (info) => {
      plans = clipIndices({ frameCount: info.frames, sourceFps: info.fps, config: input.sampler, seed: input.seed });
      return plans.flat();
    },
  );
  return { clips: assembleClips(frames, plans), info: frames.info };
}

export interface DecodeDilatedInput {
  uri: string;
  plan: Omit<DilatedInput, "frameCount" | "seed">;
  seed: number;
  geometry?: Geometry | undefined;
  limits?: Partial<DecodeLimits> | undefined;
}

/** PRP's dilated sampling in one pass: draws the rate and start from the frame count, decodes the dense 16·s span. */
export function decodeDilated(input: DecodeDilatedInput): { dense: DecodedClip; plan: DilatedPlan; info: VideoInfo } {
  let plan: DilatedPlan | undefined;
  const frames = decodeLibav({ uri: input.uri, indices: [], geometry: input.geometry, limits: input.limits }, (info) => {
    plan = dilatedPlan({ ...input.plan, frameCount: info.frames, seed: input.seed });
    return plan.dense;
  });
  return { dense: { data: frames.data, shape: frames.shape, indices: frames.indices, pts: frames.pts }, plan: plan as DilatedPlan, info: frames.info };
}
