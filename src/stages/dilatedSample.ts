/**
 * PRP's sample (Yao et al., CVPR 2020; METHODS.md §1): draws a playback rate s (label = its index) and a start,
 * decodes the frames of the 16·s-frame span that its views read, in one pass (resized to 128×171 and centre-cropped to
 * 112 by default, or cropped at a random place; pixels later in [0, 1]; 56 of 128 frames at s = 8),
 * and emits the 32-frame slow-motion target (view `target`, bytes) with its real-frame `flags`, and the motion weight
 * (view `motion`, DPAU or all ones) at cell resolution, one map per target frame ([32, 13, 13, 3] at 112 px: the
 * train step resizes it to the frame). The encoder clip (every s-th frame) is the target's even frames, byte for byte,
 * so the PRP task takes it from there; `clipView: true` also emits it as view `rgb` (a third more bytes per sample).
 * Videos too short for the drawn rate: `shortVideo` "error" (TooShort, dead-lettered by the default policy; the
 * reference instead swaps in another random video) or "lowerRate".
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Sample, VideoRef } from "../core/types.ts";
import { drawRandomCrop } from "../kernels/spatial.ts";

export const dilatedSample = defineStage({
  name: "dilatedSample",
  in: "video",
  out: "sample",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip", timeoutMs: 60_000 },
  example: { rates: [1, 2], shortVideo: "lowerRate", width: 40, height: 32, crop: [28, 28], patch: 7, poolStride: 2 },
  config: z.object({
    rates: z.array(z.int().min(1)).min(1).default([1, 2, 4, 8]),
    clipFrames: z.literal(16).default(16),
    shortVideo: z.enum(["error", "lowerRate"]).default("error"),
    width: z.int().min(1).default(171),
    height: z.int().min(1).default(128),
    crop: z.tuple([z.int().min(1), z.int().min(1)]).default([112, 112]),
    /**
     * Where the crop sits: "centre" (the reference's pretext) or "random" (drawn per sample, shared by the span's
     * frames; the motion map is computed on the cropped frames either way).
     */
    cropPosition: z.enum(["centre", "random"]).default("centre"),
    motion: z.enum(["dpau", "ones"]).default("dpau"),
    /** Also emit the encoder clip as view `rgb` (the PRP task otherwise takes the target's even frames: the same bytes). */
    clipView: z.boolean().default(false),
    /** Pooling window / stride of the motion map (default scales 28 / 7 at 112 px with the crop). */
    patch: z.int().min(1).optional(),
    poolStride: z.int().min(1).optional(),
  }),
  create: (config) => ({
    kind: "map",
    map: async (video: VideoRef, ctx): Promise<Sample> => {
      const seed = ctx.rng.uint32();
      const box = config.cropPosition === "random" ? drawRandomCrop(ctx.rng, config.height, config.width, config.crop) : undefined;
      const cropAt: [number, number] | undefined = box === undefined ? undefined : [box.x, box.y];
      const { plan, info, views } = await ctx.cpu.run(
        "prpSample",
        {
          uri: video.uri,
          seed,
          plan: { rates: config.rates, clipFrames: config.clipFrames, shortVideo: config.shortVideo, motion: config.motion },
          geometry: { width: config.width, height: config.height, crop: config.crop, cropAt },
          pool: { patch: config.patch, poolStride: config.poolStride },
          clip: config.clipView,
        },
        { signal: ctx.signal },
      );
      const base = { layout: "THWC" as const, videoId: video.id, fps: info.fps };
      return {
        key: video.id,
        videoId: video.id,
        uri: video.uri,
        views: {
          ...(config.clipView ? { rgb: { ...base, data: views.clip, shape: views.clipShape, indices: plan.encoder } } : {}),
          target: { ...base, data: views.target, shape: views.targetShape, indices: plan.dense },
          motion: { ...base, data: views.motion, shape: views.motionShape, indices: plan.dense },
        },
        targets: { rate: plan.label, flags: views.flags, ...(video.label === undefined ? {} : { label: video.label }) },
        meta: { rate: plan.rate, start: plan.start, ...(cropAt === undefined ? {} : { cropAt }) },
      };
    },
  }),
});
