/**
 * TSP's segment-balanced clips (Alwassel et al. 2021; METHODS.md §4): for an untrimmed video with annotated segments,
 * `clipsPerSegment` clips per segment (5; segments shorter than a clip dropped), each 16 frames at 15 fps (every 2nd
 * frame of a 30 fps video), starting at t_start + r·(t_end − t_start − 16/15). All clips of a video come from one
 * decode pass. One sample per clip with view `rgb` and targets `action` (label, −1 for background) and `region`
 * (1 Action / 0 No action). Follow with spatialAugment (random crop 112, flip 0.5) and normalize (Kinetics mean/std).
 */
import { z } from "zod";
import { ClipflowError } from "../core/errors.ts";
import { defineStage } from "../core/stage.ts";
import type { Sample, VideoRef } from "../core/types.ts";
import { segmentClipCount } from "../kernels/tsp.ts";

export const segmentSample = defineStage({
  name: "segmentSample",
  in: "video",
  out: "sample",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip", timeoutMs: 120_000 },
  example: { clipsPerSegment: 2, numFrames: 4, width: 32, height: 24 },
  config: z.object({
    clipsPerSegment: z.int().min(1).default(5),
    numFrames: z.int().min(1).default(16),
    /** Clip frame rate (15 in TSP: every 2nd frame at 30 fps). */
    targetFps: z.number().positive().default(15),
    mode: z.enum(["random", "centre"]).default("random"),
    width: z.int().min(1).default(171),
    height: z.int().min(1).default(128),
  }),
  create: (config) => ({
    kind: "flatMap",
    expected: (video: VideoRef) => segmentClipCount(video.segments ?? [], config.numFrames / config.targetFps, config.clipsPerSegment),
    flatMap: async (video: VideoRef, ctx): Promise<Sample[]> => {
      if (video.segments === undefined || video.segments.length === 0) {
        throw new ClipflowError("BadAnnotation", "the video has no annotated segments (TSP needs an annotations CSV)", { uri: video.uri, field: "segments" });
      }
      const clipSeconds = config.numFrames / config.targetFps;
      const plan = await ctx.cpu.run("segmentClips", { segments: video.segments, clipSeconds, clipsPerSegment: config.clipsPerSegment, mode: config.mode, seed: ctx.rng.uint32() });
      if (plan.length === 0) return [];
      const { clips, info } = await ctx.cpu.run(
        "decodeClips",
        {
          uri: video.uri,
          seed: ctx.rng.uint32(),
          sampler: { numFrames: config.numFrames, stride: 1, numClips: plan.length, start: "seconds", startSeconds: plan.map((clip) => clip.startSeconds), jitter: 0, targetFps: config.targetFps, outOfBounds: "repeatLast" },
          geometry: { width: config.width, height: config.height },
          format: "rgb24",
          limits: { maxWidth: 8192, maxHeight: 8192, maxFrames: 10_000_000 },
        },
        { signal: ctx.signal },
      );
      return clips.map((clip, i) => {
        const planned = plan[i]!;
        return {
          key: `${video.id}#${planned.segment}.${i}`,
          videoId: video.id,
          uri: video.uri,
          views: { rgb: { data: clip.data, shape: clip.shape, layout: "THWC", videoId: video.id, indices: clip.indices, pts: clip.pts, fps: info.fps } },
          targets: { action: planned.action, region: planned.region },
          meta: { segment: planned.segment, start: planned.startSeconds },
        };
      });
    },
  }),
});
