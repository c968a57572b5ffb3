/**
 * Stacks `size` samples into a Batch: each view becomes one [B, T, H, W, C] array (uint8 stays uint8 unless a
 * sample's view is float32), each target one [B, ...] float32 array. Shapes must agree across the batch; a mismatch
 * is a typed error naming the sample and view. The partial last batch is dropped (counted) unless keepPartial.
 */
import { z } from "zod";
import { ClipflowError } from "../core/errors.ts";
import { defineStage } from "../core/stage.ts";
import type { Batch, Sample, Stacked } from "../core/types.ts";

export const batch = defineStage({
  name: "batch",
  in: "sample",
  out: "batch",
  config: z.object({
    size: z.int().min(1).max(4096),
    keepPartial: z.boolean().default(false),
  }),
  create: (config) => ({
    kind: "group",
    size: config.size,
    keepPartial: config.keepPartial,
    group: (samples) => stackSamples(samples),
  }),
});

/** Stacks samples view by view and target by target. */
export function stackSamples(samples: Sample[]): Batch {
  const first = samples[0];
  if (first === undefined) throw new ClipflowError("StageError", "cannot stack an empty batch", { stage: "batch" });
  const views: Record<string, Stacked> = {};
  for (const [name, frames] of Object.entries(first.views)) {
    const floats = samples.some((sample) => sample.views[name]?.data instanceof Float32Array);
    const each = frames.data.length;
    const data = floats ? new Float32Array(uninitialised(each * samples.length * 4)) : new Uint8Array(uninitialised(each * samples.length));
    samples.forEach((sample, index) => {
      const view = sample.views[name];
      if (view === undefined || view.shape.join("x") !== frames.shape.join("x")) {
        throw new ClipflowError(
          "StageError",
          `view "${name}" has shape ${view === undefined ? "none" : view.shape.join("×")}, batch has ${frames.shape.join("×")}`,
          { stage: "batch", key: sample.key, field: `views.${name}` },
        );
      }
      data.set(view.data, index * each);
    });
    views[name] = { data, shape: [samples.length, ...frames.shape], layout: `B${frames.layout}` };
  }
  const targets: Record<string, Stacked> = {};
  for (const [name, target] of Object.entries(first.targets)) {
    const each = typeof target === "number" ? 1 : target.length;
    const data = new Float32Array(each * samples.length);
    samples.forEach((sample, index) => {
      const value = sample.targets[name];
      const length = value === undefined ? -1 : typeof value === "number" ? 1 : value.length;
      if (value === undefined || length !== each || typeof value !== typeof target) {
        throw new ClipflowError("StageError", `target "${name}" does not match the batch's (${each} values)`, {
          stage: "batch",
          key: sample.key,
          field: `targets.${name}`,
        });
      }
      if (typeof value === "number") data[index] = value;
      else data.set(value, index * each);
    });
    targets[name] = { data, shape: typeof target === "number" ? [samples.length] : [samples.length, each], layout: "B" };
  }
  return {
    keys: samples.map((sample) => sample.key),
    videoIds: samples.map((sample) => sample.videoId),
    views,
    targets,
    meta: samples.map((sample) => sample.meta),
  };
}

/** An ArrayBuffer of its own (transferable) that is not zero-filled: every byte is written by the stacking. */
function uninitialised(bytes: number): ArrayBuffer {
  return Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
}
