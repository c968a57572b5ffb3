/**
 * Spatial augmentation of a sample's views (random resized crop, random crop or centre crop, then resize, then
 * horizontal flip), parameters drawn once per clip from the stage's seeded rng and shared by every frame. With
 * `shareAcrossViews: true` all views get the same crop and flip, with "clip" the views of one clip do (CoCLR's rgb0 +
 * flow0, rgb1 + flow1); with false each view draws its own (VTDL's anchor and positive). Views named in `flowViews`
 * (with or without a clip number) have u negated when flipped, unless `negateU` is off (the CoCLR reference does not
 * negate it).
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Frames, Sample } from "../core/types.ts";
import { mapViews, selectViews, ShareViewsSchema, viewIsOneOf } from "../core/views.ts";
import { centreCrop, drawRandomCrop, drawRandomResizedCrop, type CropBox } from "../kernels/spatial.ts";

export const spatialAugment = defineStage({
  name: "spatialAugment",
  in: "sample",
  out: "sample",
  usesCpu: true,
  example: { crop: "randomResized", size: [16, 12], flip: 0.5 },
  config: z.object({
    views: z.array(z.string()).optional(),
    crop: z.enum(["randomResized", "random", "centre"]).default("randomResized"),
    /** Output width, height. */
    size: z.tuple([z.int().min(1), z.int().min(1)]).default([112, 112]),
    scale: z.tuple([z.number().gt(0), z.number().max(1)]).default([0.2, 1]),
    ratio: z.tuple([z.number().gt(0), z.number().gt(0)]).default([3 / 4, 4 / 3]),
    flip: z.number().min(0).max(1).default(0.5),
    shareAcrossViews: ShareViewsSchema.default(true),
    flowViews: z.array(z.string()).default(["flow"]),
    negateU: z.boolean().default(true),
  }),
  create: (config) => ({
    kind: "map",
    map: async (sample: Sample, ctx): Promise<Sample> => {
      const names = selectViews(sample, config.views);
      const draw = (frames: Frames) => {
        const [, height, width] = frames.shape;
        const box: CropBox =
          config.crop === "randomResized"
            ? drawRandomResizedCrop(ctx.rng, height, width, config.scale, config.ratio)
            : config.crop === "random"
              ? drawRandomCrop(ctx.rng, height, width, config.size)
              : centreCrop(height, width, config.size);
        return { box, flip: ctx.rng.bernoulli(config.flip) };
      };
      return mapViews(sample, names, { draw, shared: config.shareAcrossViews }, (frames, params, name) =>
        ctx.cpu.run(
          "cropResize",
          { data: frames.data, shape: frames.shape, box: params.box, size: config.size, flip: params.flip, negateU: config.negateU && viewIsOneOf(name, config.flowViews) },
          { signal: ctx.signal },
        ),
      );
    },
  }),
});
