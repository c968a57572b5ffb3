/**
 * TCA, temporal consistent augmentation (VTDL; METHODS.md §2), on a batch: one λ ~ U(0, λmax) per batch and one frame
 * τ per clip, both from the stage's seeded rng; x'_t = (1 − λ)·x_t + λ·x_τ on the chosen view (the anchor, after
 * normalisation, so the view must be float32). λ is recorded in the batch's meta.
 */
import { z } from "zod";
import { ClipflowError } from "../core/errors.ts";
import { defineStage } from "../core/stage.ts";
import type { Batch } from "../core/types.ts";

export const tca = defineStage({
  name: "tca",
  in: "batch",
  out: "batch",
  usesCpu: true,
  example: { view: "rgb", maxLambda: 0.1 },
  config: z.object({
    view: z.string().min(1).default("anchor"),
    maxLambda: z.number().min(0).max(1).default(0.1),
  }),
  create: (config) => ({
    kind: "map",
    map: async (batch: Batch, ctx): Promise<Batch> => {
      const view = batch.views[config.view];
      if (view === undefined) throw new ClipflowError("StageError", `the batch has no view "${config.view}"`, { field: "view" });
      const [b, t, h, w, c] = view.shape as [number, number, number, number, number];
      const data = view.data instanceof Float32Array ? view.data : Float32Array.from(view.data, (v) => v / 255);
      const lambda = ctx.rng.uniform(0, config.maxLambda);
      const taus = Array.from({ length: b }, () => ctx.rng.int(0, t - 1));
      const mixed = await ctx.cpu.run("tca", { data, shape: [b, t, h, w, c], lambda, taus }, { signal: ctx.signal });
      return {
        ...batch,
        views: { ...batch.views, [config.view]: { ...view, data: mixed } },
        meta: batch.meta.map((meta) => ({ ...meta, tcaLambda: lambda })),
      };
    },
  }),
});
