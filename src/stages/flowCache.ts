/**
 * Makes sure each video has its optical flow in the cache (computing it in a worker when missing: decode every frame
 * at the cache's short side, TV-L1 or Farnebäck for each consecutive pair, CoCLR's quantisation, JPEG/PNG/raw files)
 * and passes the video on with `meta.flow` = its cache folder. `clipflow flow` is this stage over a dataset; a
 * pretraining spec can also put it before `flowPair` to fill the cache on the first epoch. Entries are keyed by
 * video and every parameter that changes the pixels, so a finished entry is never recomputed (resume); its meta.json
 * records when it was written and how long it took.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { VideoRef } from "../core/types.ts";

export const FlowCacheSchema = z.object({
  /** Cache root; entries live in ROOT/<method>-s<size>-<hash>/<video>. */
  root: z.string().min(1),
  method: z.enum(["tvl1", "farneback"]).default("tvl1"),
  /** Short side the frames are resized to before the flow is computed (the reference resizes videos to 256). */
  shortSide: z.int().min(8).max(4096).default(256),
  /** Flow is clipped to ±bound pixels before quantisation (CoCLR: 20). */
  bound: z.number().positive().default(20),
  format: z.enum(["jpeg", "png", "raw"]).default("jpeg"),
  maxFrames: z.int().min(2).default(100_000),
});

export type FlowCacheConfig = z.infer<typeof FlowCacheSchema>;

export const cacheParams = (config: Omit<FlowCacheConfig, "root">) => ({ method: config.method, shortSide: config.shortSide, bound: config.bound, format: config.format });

export const flowCache = defineStage({
  name: "flowCache",
  in: "video",
  out: "video",
  usesCpu: true,
  defaults: { concurrency: 2, onError: "skip" },
  example: { root: join(tmpdir(), "clipflow-matrix-flow"), method: "farneback", shortSide: 16, format: "png" },
  config: FlowCacheSchema,
  create: (config) => ({
    kind: "map",
    map: async (video: VideoRef, ctx): Promise<VideoRef> => {
      const result = await ctx.cpu.run(
        "extractFlow",
        { uri: video.uri, videoId: video.id, root: config.root, params: cacheParams(config), limits: { maxFrames: config.maxFrames } },
        { signal: ctx.signal },
      );
      return { ...video, meta: { ...video.meta, flow: result.dir, flowFrames: result.frames } };
    },
  }),
});
