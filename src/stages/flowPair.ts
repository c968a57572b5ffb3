/**
 * CoCLR's paired RGB/flow views (Han et al. 2020; METHODS.md §3): `numClips` clips (default two) of `numFrames`
 * frames per video, `stride` apart (default 1: consecutive), and for each clip the RGB frames and the flow frames at
 * the SAME indices (flow k is frame k → k + 1), as views `rgb0`/`flow0`, `rgb1`/`flow1`, … Flow comes from the cache
 * `clipflow flow` (or a `flowCache` stage) filled — same method, short side, bound and format — or, with
 * `source: "online"`, is computed on the fly by the fast method. Follow it with `spatialAugment` sharing parameters
 * per clip (`shareAcrossViews: "clip"`) so a clip's RGB and flow get the same crop and flip (the flip negates u). The
 * sample records the video's UCF101 sibling group (v_<Class>_gXX) in `meta.group` for the loss.
 */
import { join } from "node:path";
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Frames, Sample, VideoRef } from "../core/types.ts";
import { flowCacheKey } from "../io/flowStore.ts";
import { cacheParams, FlowCacheSchema } from "./flowCache.ts";

/** UCF101's group of clips cut from one source video: v_ApplyEyeMakeup_g08_c01 → "ApplyEyeMakeup_g08". */
export function siblingGroup(videoId: string): string | undefined {
  return /v_([^/\\]+?_g\d+)_c\d+/.exec(videoId)?.[1];
}

export const flowPair = defineStage({
  name: "flowPair",
  in: "video",
  out: "sample",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip", timeoutMs: 120_000 },
  example: { source: "online", method: "farneback", shortSide: 16, numFrames: 3, numClips: 2 },
  config: FlowCacheSchema.extend({
    root: z.string().min(1).optional(),
    /** A cache folder as `clipflow flow` prints it (ROOT/<method>-s<size>-<hash>); instead of root + parameters. */
    cacheDir: z.string().min(1).optional(),
    source: z.enum(["cache", "online"]).default("cache"),
    numFrames: z.int().min(1).max(1024).default(32),
    /** Frame step within a clip (CoCLR's `ds`): RGB frame k and flow k → k + 1 at k = start, start + stride, … */
    stride: z.int().min(1).max(64).default(1),
    numClips: z.int().min(1).max(16).default(2),
    /** Clip starts: random (training) or uniformly spaced over the video (evaluation features). */
    start: z.enum(["random", "uniform"]).default("random"),
    /** Which views to emit: both (CoCLR's cycles), or one modality (stage-1 InfoNCE on RGB or on flow). */
    modalities: z.array(z.enum(["rgb", "flow"])).min(1).default(["rgb", "flow"]),
  }).refine((c) => c.source === "online" || c.root !== undefined || c.cacheDir !== undefined, { message: "root or cacheDir is required when source is \"cache\"", path: ["root"] }),
  create: (config) => {
    const source =
      config.source === "online"
        ? { kind: "online" as const, method: config.method, bound: config.bound, shortSide: config.shortSide }
        : { kind: "cache" as const, dir: config.cacheDir ?? join(config.root as string, flowCacheKey(cacheParams(config))) };
    return {
      kind: "map",
      map: async (video: VideoRef, ctx): Promise<Sample> => {
        const { clips, info } = await ctx.cpu.run(
          "decodeFlowPair",
          { uri: video.uri, videoId: video.id, seed: ctx.rng.uint32(), numFrames: config.numFrames, stride: config.stride, numClips: config.numClips, start: config.start, source, rgb: config.modalities.includes("rgb") },
          { signal: ctx.signal },
        );
        const views: Record<string, Frames> = {};
        clips.forEach((clip, i) => {
          if (clip.rgb !== undefined) views[`rgb${i}`] = { data: clip.rgb.data, shape: clip.rgb.shape, layout: "THWC", videoId: video.id, indices: clip.rgb.indices, pts: clip.rgb.pts, fps: info.fps };
          if (config.modalities.includes("flow")) views[`flow${i}`] = { data: clip.flow.data, shape: clip.flow.shape, layout: "THWC", videoId: video.id, indices: clip.flow.indices, fps: info.fps };
        });
        const group = siblingGroup(video.id);
        return {
          key: video.id,
          videoId: video.id,
          uri: video.uri,
          views,
          targets: video.label === undefined ? {} : { label: video.label },
          meta: { ...video.meta, ...(video.className === undefined ? {} : { className: video.className }), ...(group === undefined ? {} : { group }), frames: info.frames, fps: info.fps },
        };
      },
    };
  },
});
