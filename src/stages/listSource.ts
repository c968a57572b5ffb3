/**
 * A source of videos given inline (in code or in a spec): the smallest source, for tests, examples and tiny runs.
 * Datasets on disk or in shards have their own source stages.
 */
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { VideoRef } from "../core/types.ts";

const VideoRefSchema = z.object({
  id: z.string().min(1),
  uri: z.string().min(1),
  label: z.int().optional(),
  className: z.string().optional(),
  split: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});

export const listSource = defineStage({
  name: "listSource",
  in: "none",
  out: "video",
  config: z.object({
    items: z.array(VideoRefSchema),
    /** Pass over the list this many times (epochs inside one run). */
    repeat: z.int().min(1).default(1),
  }),
  create: (config) => ({
    kind: "source",
    size: config.items.length * config.repeat,
    *items() {
      for (let pass = 0; pass < config.repeat; pass++) {
        for (const item of config.items) yield item as VideoRef;
      }
    },
  }),
});
