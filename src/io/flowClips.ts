/**
 * The flow tasks that run in a worker, next to the decoder:
 * - `extractFlow`: a whole video → its flow cache entry (decode every frame at the cache's short side, flow of each
 *   consecutive pair, quantise, write); an existing complete entry is kept (resume);
 * - `decodeFlowPair`: CoCLR's paired views (METHODS.md §3) — clips of consecutive frames, and for each the RGB frames
 *   and the flow frames at the SAME indices (flow k = frame k → k + 1), read from the cache or computed online.
 */
import { ClipflowError } from "../core/errors.ts";
import { clipIndices } from "../kernels/clipIndices.ts";
import { opticalFlow, type FlowMethod } from "../kernels/flow.ts";
import { assembleClips, type DecodedClip } from "./decodeClips.ts";
import { decodeLibav } from "./decoders/libav.ts";
import type { DecodeLimits } from "./decoders/types.ts";
import { flowEntryDir, flowVideoDir, readFlowFrames, readFlowMeta, writeFlowVideo, type FlowCacheParams, type FlowMeta } from "./flowStore.ts";

export interface ExtractFlowInput {
  uri: string;
  videoId: string;
  root: string;
  params: FlowCacheParams;
  limits?: Partial<DecodeLimits> | undefined;
}

export interface ExtractFlowOutput {
  dir: string;
  frames: number;
  /** The entry was already complete (nothing computed). */
  cached: boolean;
}

export async function extractFlow(input: ExtractFlowInput): Promise<ExtractFlowOutput> {
  const started = performance.now();
  const dir = flowVideoDir(input.root, input.params, input.videoId);
  const existing = await readFlowMeta(dir);
  if (existing !== undefined) return { dir, frames: existing.frames, cached: true };
  const frames = decodeLibav({ uri: input.uri, indices: [], geometry: { shortSide: input.params.shortSide }, format: "rgb24", limits: input.limits }, (info) =>
    Array.from({ length: info.frames }, (_, i) => i),
  );
  const [t, h, w] = frames.shape;
  if (t < 2) throw new ClipflowError("TooShort", `optical flow needs at least 2 frames, the video has ${t}`, { uri: input.uri });
  const flow = opticalFlow({ data: frames.data, shape: frames.shape, method: input.params.method, tvl1: input.params.tvl1, farneback: input.params.farneback, bound: input.params.bound, output: "quantized" });
  const meta: FlowMeta = {
    version: 1,
    videoId: input.videoId,
    uri: input.uri,
    frames: t,
    width: w,
    height: h,
    fps: frames.info.fps,
    params: input.params,
    createdAt: new Date().toISOString(),
    computeMs: Math.round(performance.now() - started),
  };
  await writeFlowVideo(dir, meta, flow as { data: Uint8Array; shape: [number, number, number, number] });
  return { dir, frames: t, cached: false };
}

/** Cached flow lives in a cache folder (ROOT/<key>); RGB is decoded at the short side the flow was computed at. */
export type FlowSource = { kind: "cache"; dir: string } | { kind: "online"; method: FlowMethod; bound: number; shortSide: number };

export interface DecodeFlowPairInput {
  uri: string;
  videoId: string;
  seed: number;
  numFrames: number;
  /** Frame step within a clip (CoCLR's `ds`): RGB frame k and flow k → k + 1 at k = start, start + stride, … (default 1). */
  stride?: number | undefined;
  numClips: number;
  /** Clip starts: random (training) or uniformly spaced over the video (evaluation). */
  start?: "random" | "uniform" | undefined;
  source: FlowSource;
  /** Decode the RGB frames too (false: flow views only, e.g. a flow-only InfoNCE). */
  rgb: boolean;
  limits?: Partial<DecodeLimits> | undefined;
}

export interface FlowPairClip {
  rgb?: DecodedClip;
  flow: { data: Uint8Array; shape: [number, number, number, number]; indices: number[] };
}

export interface DecodeFlowPairOutput {
  clips: FlowPairClip[];
  info: { fps: number; frames: number };
}

const sampler = (numFrames: number, stride: number, input: DecodeFlowPairInput) => ({ numFrames, stride, numClips: input.numClips, start: input.start ?? "random", jitter: 0, outOfBounds: "repeatLast" as const });

export async function decodeFlowPair(input: DecodeFlowPairInput): Promise<DecodeFlowPairOutput> {
  const { source } = input;
  if (source.kind === "cache") {
    const dir = flowEntryDir(source.dir, input.videoId);
    const meta = await readFlowMeta(dir);
    if (meta === undefined) throw new ClipflowError("MissingFile", `no flow for ${input.videoId} in ${dir}: run \`clipflow flow\` on this data first`, { uri: input.uri });
    // over the frames that have a flow frame (k → k + 1), as online
    const plans = clipIndices({ frameCount: Math.max(1, meta.frames - 1), sourceFps: meta.fps, config: sampler(input.numFrames, input.stride ?? 1, input), seed: input.seed });
    let rgb: DecodedClip[] | undefined;
    if (input.rgb) {
      const frames = decodeLibav({ uri: input.uri, indices: plans.flat(), geometry: { shortSide: meta.params.shortSide }, format: "rgb24", limits: input.limits });
      const [, h, w] = frames.shape;
      if (h !== meta.height || w !== meta.width) {
        throw new ClipflowError("CorruptFile", `flow cache ${dir} is ${meta.width}×${meta.height} but the video decodes to ${w}×${h}: delete the entry to recompute it`, { uri: input.uri });
      }
      rgb = assembleClips(frames, plans);
    }
    const clips: FlowPairClip[] = [];
    for (const [i, plan] of plans.entries()) {
      const flow = await readFlowFrames(dir, meta, plan);
      clips.push({ ...(rgb === undefined ? {} : { rgb: rgb[i]! }), flow: { ...flow, indices: plan } });
    }
    return { clips, info: { fps: meta.fps, frames: meta.frames } };
  }
  // online: every RGB frame k of a clip is decoded with frame k + 1, its flow's second frame (at stride 1 the next
  // frame of the clip, so a clip decodes one frame more; at a larger stride the pairs are decoded side by side)
  const stride = input.stride ?? 1;
  let plans: number[][] = [];
  const frames = decodeLibav({ uri: input.uri, indices: [], geometry: { shortSide: source.shortSide }, format: "rgb24", limits: input.limits }, (facts) => {
    if (stride === 1) {
      plans = clipIndices({ frameCount: facts.frames, sourceFps: facts.fps, config: sampler(input.numFrames + 1, 1, input), seed: input.seed });
    } else {
      const starts = clipIndices({ frameCount: Math.max(1, facts.frames - 1), sourceFps: facts.fps, config: sampler(input.numFrames, stride, input), seed: input.seed });
      plans = starts.map((plan) => plan.flatMap((k) => [k, Math.min(k + 1, facts.frames - 1)]));
    }
    return plans.flat();
  });
  const flowOf = (data: Uint8Array, shape: [number, number, number, number]) =>
    opticalFlow({ data, shape, method: source.method, bound: source.bound, output: "quantized" }).data as Uint8Array;
  const clips = assembleClips(frames, plans).map((clip): FlowPairClip => {
    const [t, h, w, c] = clip.shape;
    const frame = h * w * c;
    // the clip's positions that are RGB frames (each followed by its flow's second frame)
    const firsts = stride === 1 ? Array.from({ length: t - 1 }, (_, i) => i) : Array.from({ length: t / 2 }, (_, i) => 2 * i);
    const n = firsts.length;
    let flow: Uint8Array;
    if (stride === 1) flow = flowOf(clip.data, clip.shape);
    else {
      flow = new Uint8Array(n * h * w * 3);
      firsts.forEach((i, k) => flow.set(flowOf(clip.data.subarray(i * frame, (i + 2) * frame), [2, h, w, c]), k * h * w * 3));
    }
    const indices = firsts.map((i) => clip.indices[i] as number);
    const flowView = { data: flow, shape: [n, h, w, 3] as [number, number, number, number], indices };
    if (!input.rgb) return { flow: flowView };
    const rgb = new Uint8Array(n * frame);
    firsts.forEach((i, k) => rgb.set(clip.data.subarray(i * frame, (i + 1) * frame), k * frame));
    return { rgb: { data: rgb, shape: [n, h, w, c], indices, pts: firsts.map((i) => clip.pts[i] as number) }, flow: flowView };
  });
  return { clips, info: { fps: frames.info.fps, frames: frames.info.frames } };
}
