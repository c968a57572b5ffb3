/**
 * Decodes clips of a video into a Sample, in a worker (in-process libav, one decoder thread per worker): the clip
 * sampler picks the frames (numFrames at stride, numClips by start policy, target fps, out-of-bounds policy), the
 * union is decoded in one pass and resized / centre-cropped in libav. One clip becomes the view `view`; several become
 * `view0`, `view1`, … Frames carry the indices and pts they came from. Bad files fail with typed errors (MissingFile,
 * CorruptFile, NoVideoStream, TooShort, Timeout) that the default policy dead-letters.
 */
import { rmSync } from "node:fs";
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Frames, Sample, VideoRef } from "../core/types.ts";

export const ClipSamplerSchema = z.object({
  numFrames: z.int().min(1).max(4096).default(16),
  stride: z.int().min(1).max(1000).default(1),
  numClips: z.int().min(1).max(256).default(1),
  start: z.enum(["random", "uniform", "centre", "explicit", "sliding", "seconds"]).default("random"),
  startSeconds: z.array(z.number().min(0)).optional(),
  /** Frames between clip starts with start "sliding". */
  every: z.int().min(1).optional(),
  starts: z.array(z.int().min(0)).optional(),
  jitter: z.int().min(0).default(0),
  targetFps: z.number().positive().optional(),
  outOfBounds: z.enum(["wrap", "repeatLast", "error", "skip"]).default("error"),
});

export const decode = defineStage({
  name: "decode",
  in: "video",
  out: "sample",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip", timeoutMs: 60_000 },
  example: { numFrames: 4, stride: 2, numClips: 2, start: "uniform", width: 32, height: 24 },
  config: ClipSamplerSchema.extend({
    view: z.string().min(1).default("rgb"),
    width: z.int().min(1).max(8192).optional(),
    height: z.int().min(1).max(8192).optional(),
    shortSide: z.int().min(1).max(8192).optional(),
    crop: z.tuple([z.int().min(1), z.int().min(1)]).optional(),
    format: z.enum(["rgb24", "gray"]).default("rgb24"),
    maxWidth: z.int().min(1).default(8192),
    maxHeight: z.int().min(1).default(8192),
    maxFrames: z.int().min(1).default(10_000_000),
  }),
  create: (config) => ({
    kind: "map",
    map: async (video: VideoRef, ctx): Promise<Sample> => {
      const { clips, info } = await ctx.cpu.run(
        "decodeClips",
        {
          uri: video.uri,
          seed: ctx.rng.uint32(),
          sampler: {
            numFrames: config.numFrames,
            stride: config.stride,
            numClips: config.numClips,
            start: config.start,
            starts: config.starts,
            every: config.every,
            startSeconds: config.startSeconds,
            jitter: config.jitter,
            targetFps: config.targetFps,
            outOfBounds: config.outOfBounds,
          },
          geometry: { width: config.width, height: config.height, shortSide: config.shortSide, crop: config.crop },
          format: config.format,
          limits: { maxWidth: config.maxWidth, maxHeight: config.maxHeight, maxFrames: config.maxFrames },
        },
        { signal: ctx.signal },
      );
      // a temporary copy (e.g. streamed out of a shard) is not needed once decoded
      if (video.meta?.ephemeral === true) rmSync(video.uri, { force: true });
      const { ephemeral: _ephemeral, ...keptMeta } = video.meta ?? {};
      const views: Record<string, Frames> = {};
      clips.forEach((clip, i) => {
        const name = clips.length === 1 ? config.view : `${config.view}${i}`;
        views[name] = { data: clip.data, shape: clip.shape, layout: "THWC", videoId: video.id, indices: clip.indices, pts: clip.pts, fps: info.fps };
      });
      return {
        key: video.id,
        videoId: video.id,
        uri: video.uri,
        views,
        targets: video.label === undefined ? {} : { label: video.label },
        meta: { ...keptMeta, ...(video.className === undefined ? {} : { className: video.className }), frames: info.frames, fps: info.fps },
      };
    },
  }),
});
