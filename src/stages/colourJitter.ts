/**
 * Colour augmentation (torchvision ColorJitter + RandomGrayscale semantics; VTDL's and CoCLR's recipes, METHODS.md
 * §2–3): per clip, with probability `probability`, brightness/contrast/saturation/hue factors in a random order, then
 * grayscale with probability `grayscale`; all frames of a clip share the parameters. Views are drawn independently
 * unless `shareAcrossViews`. `lastOnly` reproduces the VTDL reference's quirk (only the last shuffled op applies).
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Sample } from "../core/types.ts";
import { mapViews, selectViews, ShareViewsSchema } from "../core/views.ts";
import { drawColourJitter, type ColourJitterParams } from "../kernels/colour.ts";

export const colourJitter = defineStage({
  name: "colourJitter",
  in: "sample",
  out: "sample",
  usesCpu: true,
  example: { brightness: 0.5, contrast: 0.5, saturation: 0.25, hue: 0.5, grayscale: 0.2 },
  config: z.object({
    views: z.array(z.string()).optional(),
    brightness: z.number().min(0).default(0.4),
    contrast: z.number().min(0).default(0.4),
    saturation: z.number().min(0).default(0.4),
    hue: z.number().min(0).max(0.5).default(0.1),
    /** Probability that the jitter is applied to a clip (RandomApply). */
    probability: z.number().min(0).max(1).default(1),
    /** Probability of a grayscale clip (RandomGrayscale). */
    grayscale: z.number().min(0).max(1).default(0),
    /** "luminance" (torchvision) or "channel" (CoCLR: one random channel copied to all three). */
    grayMode: z.enum(["luminance", "channel"]).default("luminance"),
    shareAcrossViews: ShareViewsSchema.default(false),
    lastOnly: z.boolean().default(false),
  }),
  create: (config) => ({
    kind: "map",
    map: async (sample: Sample, ctx): Promise<Sample> => {
      const names = selectViews(sample, config.views, (frames) => frames.shape[3] === 3);
      const draw = (): ColourJitterParams => {
        const apply = ctx.rng.bernoulli(config.probability);
        const params = drawColourJitter(ctx.rng, config);
        return apply ? params : { ...params, order: [] };
      };
      return mapViews(sample, names, { draw, shared: config.shareAcrossViews }, (frames, params) =>
        ctx.cpu.run("colourJitter", { data: frames.data, shape: frames.shape, params, lastOnly: config.lastOnly }, { signal: ctx.signal }),
      );
    },
  }),
});
