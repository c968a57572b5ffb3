/**
 * Random rotation (VTDL's ±10°, METHODS.md §2; torchvision RandomRotation on PIL images): one angle per clip, uniform
 * in [−degrees, degrees], nearest-neighbour, no expansion, corners filled with `fill` — bit-exact with PIL's
 * Image.rotate (fixture test). Views drawn independently unless `shareAcrossViews`. The reference rotates before its
 * resize to 256; here frames arrive already resized at decode time, so the rotation acts on the resized frames.
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Sample } from "../core/types.ts";
import { mapViews, selectViews, ShareViewsSchema } from "../core/views.ts";

export const rotate = defineStage({
  name: "rotate",
  in: "sample",
  out: "sample",
  usesCpu: true,
  example: { degrees: 10 },
  config: z.object({
    views: z.array(z.string()).optional(),
    degrees: z.number().min(0).max(180).default(10),
    fill: z.number().default(0),
    shareAcrossViews: ShareViewsSchema.default(false),
  }),
  create: (config) => ({
    kind: "map",
    map: async (sample: Sample, ctx): Promise<Sample> => {
      const names = selectViews(sample, config.views);
      const draw = () => ctx.rng.uniform(-config.degrees, config.degrees);
      return mapViews(sample, names, { draw, shared: config.shareAcrossViews }, (frames, angle) =>
        ctx.cpu.run("rotateFrames", { data: frames.data, shape: frames.shape, angle, fill: config.fill }, { signal: ctx.signal }),
      );
    },
  }),
});
