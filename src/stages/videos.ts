/**
 * The dataset source: every video of DATA (a folder, a split list, a manifest or TSP annotations; see
 * src/io/datasets.ts), optionally repeated for several epochs and shuffled per epoch with the run's seed.
 */
import { z } from "zod";
import { rngFor } from "../core/rng.ts";
import { defineStage } from "../core/stage.ts";
import { openDataset } from "../io/datasets.ts";

export const videos = defineStage({
  name: "videos",
  in: "none",
  out: "video",
  example: { data: "data/actions" },
  config: z.object({
    data: z.string().min(1),
    split: z.enum(["train", "test"]).optional(),
    shuffle: z.boolean().default(false),
    /** Passes over the dataset (epochs inside one run); each pass has its own order when shuffling. */
    repeat: z.int().min(1).default(1),
  }),
  create: (config) => {
    const dataset = openDataset(config.data, { split: config.split });
    return {
      kind: "source",
      size: dataset.videos.length * config.repeat,
      listed: Array.from({ length: config.repeat }, () => dataset.videos).flat(),
      *items(ctx) {
        for (let pass = 0; pass < config.repeat; pass++) {
          const order = config.shuffle ? rngFor(ctx.seed, ctx.epoch + pass, ctx.stage, "order").shuffle(dataset.videos) : dataset.videos;
          yield* order;
        }
      },
    };
  },
});
