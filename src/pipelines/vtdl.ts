/**
 * VTDL's default pipeline (METHODS.md §2): videos (shuffled per epoch) → temporalTriplet (16 frames at stride 4,
 * wrapping; negative from another interval, thresh 2; short side 256/224 of the crop) → rotate (±10° per view) →
 * spatialAugment (independent random crop per view, no flip) → colour jitter (0.5, 0.5, 0.25, 0.5; all four ops, `lastOnly` for the reference's
 * quirk) → ImageNet normalisation → batch 8 → TCA on the anchor (λ ~ U(0, 0.1) per batch) →
 * train (query/key encoders with a 128-d head, queue 5000, τ 0.07, EMA 0.999, extra negative; SGD momentum 0.9,
 * wd 1e-4, lr 0.003, ×0.1 at epochs 120/160/200, 240 epochs). The reference rotates before resizing; here the
 * frames are resized at decode time, so the rotation acts on resized frames.
 */
import type { PipelineOverrides } from "./prp.ts";

export function vtdlSpec(o: PipelineOverrides): Record<string, unknown> {
  const size = o.size ?? 112;
  return {
    name: "vtdl",
    seed: o.seed ?? 0,
    maxInFlight: 32,
    stages: [
      { stage: "videos", data: o.data, shuffle: true },
      { stage: "temporalTriplet", numFrames: o.frames ?? 16, stride: 4, thresh: 2, shortSide: Math.round((size * 256) / 224) },
      { stage: "rotate", degrees: 10 },
      { stage: "spatialAugment", crop: "random", size: [size, size], flip: 0, shareAcrossViews: false },
      { stage: "colourJitter", brightness: 0.5, contrast: 0.5, saturation: 0.25, hue: 0.5, shareAcrossViews: false },
      { stage: "normalize", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      { stage: "batch", size: o.batch ?? 8 },
      { stage: "tca", view: "anchor", maxLambda: 0.1 },
    ],
    train: {
      task: { kind: "vtdl", backbone: { name: o.backbone ?? "r3d", width: o.width ?? 1, blocks: 1 }, dim: 128, queueSize: 5000, temperature: 0.07, momentum: 0.999, extraNegative: true },
      optimizer: { kind: "sgd", lr: o.lr ?? 0.003, momentum: 0.9, weightDecay: 1e-4 },
      schedule: { kind: "multiStep", milestones: [120, 160, 200], gamma: 0.1 },
      epochs: o.epochs ?? 240,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}
