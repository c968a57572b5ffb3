/**
 * TSP's global video feature (METHODS.md §4): attaches to each sample the max (or mean) over time of its video's clip
 * features, read once per run from an HDF5 file written by `clipflow extract` with a previously trained encoder (one
 * dataset [clips, dim] per video id). The feature rides along as target `gvf`, with no gradient. A video missing from
 * the file is a BadAnnotation error naming it.
 */
import { z } from "zod";
import { ClipflowError } from "../core/errors.ts";
import { defineStage } from "../core/stage.ts";
import type { Sample } from "../core/types.ts";
import { readFeaturesH5 } from "../io/featureFile.ts";

export const gvf = defineStage({
  name: "gvf",
  in: "sample",
  out: "sample",
  defaults: { onError: "skip" },
  example: { data: "runs/gvf.h5" },
  config: z.object({
    /** HDF5 file from `clipflow extract` (one dataset per video id). */
    data: z.string().min(1),
    pool: z.enum(["max", "mean"]).default("max"),
  }),
  create: (config) => {
    let table: Promise<Map<string, Float32Array>> | undefined;
    const load = async () => {
      const raw = await readFeaturesH5(config.data);
      const pooled = new Map<string, Float32Array>();
      for (const [id, { data, shape }] of raw) {
        const [clips = 1, dim = data.length] = shape;
        const out = new Float32Array(dim).fill(config.pool === "max" ? -Infinity : 0);
        for (let c = 0; c < clips; c += 1) {
          for (let d = 0; d < dim; d += 1) {
            const v = data[c * dim + d]!;
            out[d] = config.pool === "max" ? Math.max(out[d]!, v) : out[d]! + v / clips;
          }
        }
        pooled.set(id, out);
      }
      return pooled;
    };
    return {
      kind: "map",
      map: async (sample: Sample): Promise<Sample> => {
        table ??= load();
        const feature = (await table).get(sample.videoId);
        if (feature === undefined) {
          throw new ClipflowError("BadAnnotation", `no global video feature for video "${sample.videoId}" in ${config.data}`, { uri: config.data, field: "gvf" });
        }
        return { ...sample, targets: { ...sample.targets, gvf: feature } };
      },
    };
  },
});
