/**
 * Per-channel normalisation of views: (x·scale − mean) / std as float32, on the CPU pool. Defaults are ImageNet
 * statistics on [0, 1] pixels (VTDL, CoCLR); TSP uses Kinetics statistics; PRP uses mean 0, std 1 ([0, 1] only).
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import { selectViews } from "../core/views.ts";
import type { Frames, Sample } from "../core/types.ts";

export const normalize = defineStage({
  name: "normalize",
  in: "sample",
  out: "sample",
  usesCpu: true,
  example: { views: ["rgb"], mean: [0.43216, 0.394666, 0.37645], std: [0.22803, 0.22145, 0.216989] },
  config: z.object({
    /** Views to normalise (default: all). */
    views: z.array(z.string()).optional(),
    scale: z.number().positive().default(1 / 255),
    mean: z.array(z.number()).min(1).default([0.485, 0.456, 0.406]),
    std: z.array(z.number().positive()).min(1).default([0.229, 0.224, 0.225]),
  }),
  create: (config) => ({
    kind: "map",
    map: async (sample, ctx): Promise<Sample> => {
      const views: Record<string, Frames> = { ...sample.views };
      for (const name of selectViews(sample, config.views)) {
        const frames = sample.views[name] as Frames;
        const data = await ctx.cpu.run(
          "normalize",
          { data: frames.data, channels: frames.shape[3], scale: config.scale, mean: config.mean, std: config.std },
          { signal: ctx.signal },
        );
        views[name] = { ...frames, data };
      }
      return { ...sample, views };
    },
  }),
});
