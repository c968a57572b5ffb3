/**
 * VTDL's temporal triplet (Wang et al. 2020; METHODS.md §2): views `anchor` and `positive` hold the SAME interval (16
 * frames at stride 4, wrapping past the end; decoded once, copied, so later augmentation can treat them
 * independently), `negative` another interval of the same video (shifted by N/3 when its start falls within `thresh`
 * frames of the anchor's). thresh is 2 for UCF101/HMDB51 and 4 for the Kinetics loader.
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Sample, VideoRef } from "../core/types.ts";

export const temporalTriplet = defineStage({
  name: "temporalTriplet",
  in: "video",
  out: "sample",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip", timeoutMs: 60_000 },
  example: { numFrames: 4, stride: 2, shortSide: 32 },
  config: z.object({
    numFrames: z.int().min(1).default(16),
    stride: z.int().min(1).default(4),
    thresh: z.int().min(0).default(2),
    /** Decode-time resize (the reference resizes the short side to 256 before its random crop). */
    shortSide: z.int().min(1).default(256),
  }),
  create: (config) => ({
    kind: "map",
    map: async (video: VideoRef, ctx): Promise<Sample> => {
      const { anchor, negative, plan, info } = await ctx.cpu.run(
        "decodeTriplet",
        {
          uri: video.uri,
          seed: ctx.rng.uint32(),
          plan: { numFrames: config.numFrames, stride: config.stride, thresh: config.thresh },
          geometry: { shortSide: config.shortSide },
        },
        { signal: ctx.signal },
      );
      const base = { layout: "THWC" as const, videoId: video.id, fps: info.fps };
      return {
        key: video.id,
        videoId: video.id,
        uri: video.uri,
        views: {
          anchor: { ...base, data: anchor.data, shape: anchor.shape, indices: plan.anchor, pts: anchor.pts },
          positive: { ...base, data: anchor.data.slice(), shape: anchor.shape, indices: plan.anchor, pts: anchor.pts },
          negative: { ...base, data: negative.data, shape: negative.shape, indices: plan.negative, pts: negative.pts },
        },
        targets: video.label === undefined ? {} : { label: video.label },
        meta: { anchorStart: plan.anchorStart, negativeStart: plan.negativeStart },
      };
    },
  }),
});
