/**
 * The decode task that runs in a worker: opens a video once, plans its clips with the clip sampler (from the frame
 * count and rate the container reports), decodes the union of their frames in one pass, and returns one THWC array
 * per clip with the frame indices and pts each frame came from.
 */
import { ClipflowError } from "../core/errors.ts";
import { clipIndices, type ClipSamplerConfig } from "../kernels/clipIndices.ts";
import { dilatedPlan, type DilatedInput, type DilatedPlan } from "../kernels/prp.ts";
import { tripletPlan, type TripletInput, type TripletPlan } from "../kernels/vtdl.ts";
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

/** Where to decode from and how; the frames come from a plan drawn once the stream's frame count is known. */
interface DecodeTarget {
  uri: string;
  geometry?: Geometry | undefined;
  format?: "rgb24" | "gray" | undefined;
  limits?: Partial<DecodeLimits> | undefined;
}

/** Opens the video once, lets `plan` pick clips (lists of indices) from its facts, decodes their union in one pass. */
function decodePlanned<P>(target: DecodeTarget, plan: (info: VideoInfo) => { clips: number[][]; result: P }): { clips: DecodedClip[]; result: P; info: VideoInfo } {
  let planned: { clips: number[][]; result: P } | undefined;
  const frames = decodeLibav({ uri: target.uri, indices: [], geometry: target.geometry, format: target.format, limits: target.limits }, (info) => {
    planned = plan(info);
    return planned.clips.flat();
  });
  const done = planned as { clips: number[][]; result: P };
  return { clips: assembleClips(frames, done.clips), result: done.result, info: frames.info };
}

export function decodeClips(input: DecodeClipsInput): DecodeClipsOutput {
  const { clips, info } = decodePlanned(input, (info) => ({
    clips: clipIndices({ frameCount: info.frames, sourceFps: info.fps, config: input.sampler, seed: input.seed }),
    result: undefined,
  }));
  return { clips, info };
}

export interface DecodeDilatedInput extends DecodeTarget {
  plan: Omit<DilatedInput, "frameCount" | "seed">;
  seed: number;
}

/**
 * PRP's dilated sampling in one pass: draws the rate and start from the frame count, decodes the frames of the 16·s
 * span that PRP's views read (`plan.read`; the whole span for s ≤ 2).
 */
export function decodeDilated(input: DecodeDilatedInput): { dense: DecodedClip; plan: DilatedPlan; info: VideoInfo } {
  const { clips, result, info } = decodePlanned(input, (info) => {
    const plan = dilatedPlan({ ...input.plan, frameCount: info.frames, seed: input.seed });
    return { clips: [plan.read], result: plan };
  });
  return { dense: clips[0] as DecodedClip, plan: result, info };
}

export interface DecodeTripletInput extends DecodeTarget {
  plan: Omit<TripletInput, "frameCount" | "seed">;
  seed: number;
}

/** VTDL's temporal triplet in one pass: the anchor interval (shared with the positive) and the negative's. */
export function decodeTriplet(input: DecodeTripletInput): { anchor: DecodedClip; negative: DecodedClip; plan: TripletPlan; info: VideoInfo } {
  const { clips, result, info } = decodePlanned(input, (info) => {
    const plan = tripletPlan({ ...input.plan, frameCount: info.frames, seed: input.seed });
    return { clips: [plan.anchor, plan.negative], result: plan };
  });
  return { anchor: clips[0] as DecodedClip, negative: clips[1] as DecodedClip, plan: result, info };
}
