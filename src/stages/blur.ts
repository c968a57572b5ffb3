/**
 * Random Gaussian blur (torchvision GaussianBlur semantics, as MoCo-v2-style recipes use it; issue 4's augmentation
 * set): with probability `probability` per clip, σ uniform in `sigma`, an odd kernel of `kernelSize`, reflect padding;
 * every frame of a clip shares σ. Views drawn independently unless `shareAcrossViews`.
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { Sample } from "../core/types.ts";
import { mapViews, selectViews, ShareViewsSchema } from "../core/views.ts";

export const blur = defineStage({
  name: "blur",
  in: "sample",
  out: "sample",
  usesCpu: true,
  example: { kernelSize: 3, probability: 1 },
  config: z.object({
    views: z.array(z.string()).optional(),
    kernelSize: z.int().min(1).refine((k) => k % 2 === 1, "must be odd").default(11),
    sigma: z.tuple([z.number().positive(), z.number().positive()]).default([0.1, 2]),
    probability: z.number().min(0).max(1).default(0.5),
    shareAcrossViews: ShareViewsSchema.default(false),
  }),
  create: (config) => ({
    kind: "map",
    map: async (sample: Sample, ctx): Promise<Sample> => {
      const names = selectViews(sample, config.views);
      const draw = () => ({ apply: ctx.rng.bernoulli(config.probability), sigma: ctx.rng.uniform(config.sigma[0], config.sigma[1]) });
      return mapViews(sample, names, { draw, shared: config.shareAcrossViews }, async (frames, params) =>
        params.apply ? ctx.cpu.run("gaussianBlur", { data: frames.data, shape: frames.shape, kernelSize: config.kernelSize, sigma: params.sigma }, { signal: ctx.signal }) : frames,
      );
    },
  }),
});
