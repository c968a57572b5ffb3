/**
 * CoCLR's first stage on RGB (METHODS.md §3): InfoNCE per modality, the initialisation that the co-training cycles
 * start from. videos → decode two independent clips of 32 consecutive frames (short side 128) → per view: random
 * resized crop 128 (area [0.2, 1], aspect [3/4, 4/3]) + flip 0.5 → the "base" colour recipe → ImageNet normalisation
 * → batch → train (query + EMA key encoder, MLP head → 128, queue 2048, τ 0.07; Adam lr 1e-3, wd 1e-5, ×0.1 at
 * epochs 250 and 280 of 300).
 * The reference applies the whole base recipe (jitter p 0.8, channel gray p 0.2, blur p 0.5) with p 0.3 per view; here
 * each part is drawn independently with the product probability (0.24, 0.06, 0.15); gray copies one random channel.
 * With `flow` (a cache folder printed by `clipflow flow`, or "online" for the fast method computed on the fly) the same
 * stage trains on flow instead: two flow clips per video (u, v, 128 quantised as the reference stores them) → random
 * resized crop + flip (u negated; the reference does not) → scaled to [−1, 1]; no colour augmentation on flow (the
 * reference applies RGB colour jitter to flow images: a quirk we do not copy). The second queue, the frozen sampler
 * and the co-training cycles are not built yet.
 */
import type { PipelineOverrides } from "./prp.ts";

function flowStages(o: PipelineOverrides & { flow: string }, size: number): Record<string, unknown>[] {
  const source = o.flow === "online" ? { source: "online", method: "farneback", shortSide: size } : { source: "cache", cacheDir: o.flow };
  return [
    { stage: "videos", data: o.data, shuffle: true },
    { stage: "flowPair", ...source, numFrames: o.frames ?? 32, numClips: 2, modalities: ["flow"] },
    { stage: "spatialAugment", crop: "randomResized", size: [size, size], scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, shareAcrossViews: false },
    { stage: "normalize", mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    { stage: "batch", size: o.batch ?? 16 },
  ];
}

export function coclrSpec(o: PipelineOverrides & { flow?: string | undefined }): Record<string, unknown> {
  const size = o.size ?? 128;
  const flow = o.flow;
  return {
    name: flow === undefined ? "coclr-infonce-rgb" : "coclr-infonce-flow",
    seed: o.seed ?? 0,
    maxInFlight: 32,
    stages: flow !== undefined ? flowStages({ ...o, flow }, size) : [
      { stage: "videos", data: o.data, shuffle: true },
      { stage: "decode", numFrames: o.frames ?? 32, numClips: 2, start: "random", outOfBounds: "repeatLast", shortSide: size },
      { stage: "spatialAugment", crop: "randomResized", size: [size, size], scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, shareAcrossViews: false },
      { stage: "colourJitter", brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, probability: 0.24, grayscale: 0.06, grayMode: "channel" },
      { stage: "blur", kernelSize: 2 * Math.floor(size / 20) + 1, sigma: [0.1, 2], probability: 0.15 },
      { stage: "normalize", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      { stage: "batch", size: o.batch ?? 16 },
    ],
    train: {
      task: { kind: "infonce", ...(flow === undefined ? {} : { views: { query: "flow0", key: "flow1" } }), backbone: { name: o.backbone ?? "r2plus1d", width: o.width ?? 1, blocks: 1 }, dim: 128, queueSize: 2048, temperature: 0.07, momentum: 0.999, projection: "mlp" },
      optimizer: { kind: "adam", lr: o.lr ?? 1e-3, weightDecay: 1e-5 },
      schedule: { kind: "multiStep", milestones: [250, 280], gamma: 0.1 },
      epochs: o.epochs ?? 300,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}
