/**
 * CoCLR's first stage on RGB (METHODS.md §3): InfoNCE per modality, the initialisation that the co-training cycles
 * start from. videos → decode two independent clips of 32 consecutive frames (short side 128) → per view: random
 * resized crop 128 (area [0.2, 1], aspect [3/4, 4/3]) + flip 0.5 → the "base" colour recipe → ImageNet normalisation
 * → batch → train (S3D query + EMA key encoder, MLP head → 128, queue 2048, τ 0.07; Adam lr 1e-3, wd 1e-5, ×0.1 at
 * epochs 250 and 280 of 300).
 * The reference applies the whole base recipe (jitter p 0.8, channel gray p 0.2, blur p 0.5) with p 0.3 per view; here
 * each part is drawn independently with the product probability (0.24, 0.06, 0.15); gray copies one random channel.
 * With `flow` (a cache folder printed by `clipflow flow`, or "online" for the fast method computed on the fly) the same
 * stage trains on flow instead: two flow clips per video (u, v, 128 quantised as the reference stores them) → random
 * resized crop + flip (u negated; the reference does not) → scaled to [−1, 1]; no colour augmentation on flow (the
 * reference applies RGB colour jitter to flow images: a quirk we do not copy).
 * With `cycle` (rgb or flow) it is stage 2, one co-training cycle: both modalities of two clips per video (same frame
 * indices; crop and flip shared by the views of a clip), the colour recipe on RGB only, each modality normalised its
 * own way; the task trains `cycle` from `init` with positives mined by the frozen `sampler` of the other modality
 * (second queue, siblings, top-5, self-drop 0.9; no step until the queue is full), Adam lr 1e-3, ×0.1 at 80 of 100
 * epochs (see `coclrSchedule` for the whole alternation).
 */
import { join } from "node:path";
import { ClipflowError } from "../core/errors.ts";
import type { PipelineOverrides } from "./prp.ts";

export interface CoclrOverrides extends PipelineOverrides {
  /** A flow cache folder (`clipflow flow` prints it) or "online". */
  flow?: string | undefined;
  /** Stage 2: the modality this co-training cycle trains. */
  cycle?: "rgb" | "flow" | undefined;
  /** Stage 2: the run this cycle's encoder starts from (stage-1 InfoNCE of the same modality, or the previous cycle). */
  init?: string | undefined;
  /** Stage 2: the other modality's run, frozen, that mines the positives. */
  sampler?: string | undefined;
  /**
   * Stage 2: the reference's quirk: the RGB colour recipe (jitter, channel gray, blur) also applied to the flow images,
   * with the parameters of the clip's RGB view. Off by default (colour has no meaning for (u, v, 128) images).
   */
  flowColourQuirk?: boolean | undefined;
}

const imagenet = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const flowScale = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

/** The base colour recipe on RGB views (see the header for the probabilities). */
function colourStages(size: number, views?: string[], shareAcrossViews?: "clip"): Record<string, unknown>[] {
  const only = { ...(views === undefined ? {} : { views }), ...(shareAcrossViews === undefined ? {} : { shareAcrossViews }) };
  return [
    { stage: "colourJitter", ...only, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, probability: 0.24, grayscale: 0.06, grayMode: "channel" },
    { stage: "blur", ...only, kernelSize: 2 * Math.floor(size / 20) + 1, sigma: [0.1, 2], probability: 0.15 },
  ];
}

function flowStages(o: CoclrOverrides & { flow: string }, size: number, modalities: Array<"rgb" | "flow">): Record<string, unknown>[] {
  const source = o.flow === "online" ? { source: "online", method: "farneback", shortSide: size } : { source: "cache", cacheDir: o.flow };
  const both = modalities.length === 2;
  return [
    { stage: "videos", data: o.data, shuffle: true },
    { stage: "flowPair", ...source, numFrames: o.frames ?? 32, numClips: 2, modalities },
    { stage: "spatialAugment", crop: "randomResized", size: [size, size], scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, shareAcrossViews: both ? "clip" : false },
    ...(both
      ? [...(o.flowColourQuirk === true ? colourStages(size, ["rgb", "flow"], "clip") : colourStages(size, ["rgb"])), { stage: "normalize", views: ["rgb"], ...imagenet }, { stage: "normalize", views: ["flow"], ...flowScale }]
      : [{ stage: "normalize", ...flowScale }]),
    { stage: "batch", size: o.batch ?? 16 },
  ];
}

function cycleSpec(o: CoclrOverrides & { cycle: "rgb" | "flow" }, size: number): Record<string, unknown> {
  if (o.flow === undefined) throw new ClipflowError("ConfigError", "a CoCLR cycle needs flow: --flow CACHE_DIR (from clipflow flow) or online", { field: "--flow" });
  if (o.sampler === undefined) throw new ClipflowError("ConfigError", `a CoCLR ${o.cycle} cycle needs --sampler RUN: the ${o.cycle === "rgb" ? "flow" : "RGB"} encoder that mines positives`, { field: "--sampler" });
  const epochs = o.epochs ?? 100;
  return {
    name: `coclr-cycle-${o.cycle}`,
    seed: o.seed ?? 0,
    maxInFlight: 32,
    stages: flowStages({ ...o, flow: o.flow }, size, ["rgb", "flow"]),
    train: {
      task: {
        kind: "coclr",
        modality: o.cycle,
        sampler: o.sampler,
        ...(o.init === undefined ? {} : { init: o.init }),
        backbone: { name: o.backbone ?? "s3d", width: o.width ?? 1, blocks: 1 },
        dim: 128,
        queueSize: 2048,
        temperature: 0.07,
        momentum: 0.999,
        projection: "mlp",
        topK: 5,
        dropSelf: 0.9,
      },
      optimizer: { kind: "adam", lr: o.lr ?? 1e-3, weightDecay: 1e-5 },
      schedule: { kind: "multiStep", milestones: [Math.round(epochs * 0.8)], gamma: 0.1 },
      epochs,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}

export function coclrSpec(o: CoclrOverrides): Record<string, unknown> {
  const size = o.size ?? 128;
  if (o.cycle !== undefined) return cycleSpec({ ...o, cycle: o.cycle }, size);
  const flow = o.flow;
  return {
    name: flow === undefined ? "coclr-infonce-rgb" : "coclr-infonce-flow",
    seed: o.seed ?? 0,
    maxInFlight: 32,
    stages: flow !== undefined ? flowStages({ ...o, flow }, size, ["flow"]) : [
      { stage: "videos", data: o.data, shuffle: true },
      { stage: "decode", numFrames: o.frames ?? 32, numClips: 2, start: "random", outOfBounds: "repeatLast", shortSide: size },
      { stage: "spatialAugment", crop: "randomResized", size: [size, size], scale: [0.2, 1], ratio: [3 / 4, 4 / 3], flip: 0.5, shareAcrossViews: false },
      ...colourStages(size),
      { stage: "normalize", ...imagenet },
      { stage: "batch", size: o.batch ?? 16 },
    ],
    train: {
      task: { kind: "infonce", ...(flow === undefined ? {} : { views: { query: "flow0", key: "flow1" } }), backbone: { name: o.backbone ?? "s3d", width: o.width ?? 1, blocks: 1 }, dim: 128, queueSize: 2048, temperature: 0.07, momentum: 0.999, projection: "mlp" },
      optimizer: { kind: "adam", lr: o.lr ?? 1e-3, weightDecay: 1e-5 },
      schedule: { kind: "multiStep", milestones: [250, 280], gamma: 0.1 },
      epochs: o.epochs ?? 300,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}

type RunLength = { epochs?: number | undefined; steps?: number | undefined };

/** One run of the CoCLR schedule: its folder name under the schedule's output and the overrides that make its spec. */
export interface CoclrRun {
  name: string;
  overrides: CoclrOverrides;
}

/**
 * CoCLR's whole schedule (METHODS.md §3) as a list of runs: InfoNCE on RGB and on flow (stage 1), then `cycles`
 * co-training cycles, each training RGB with the newest flow encoder as sampler and then flow with the newest RGB one,
 * every encoder starting from its own previous run. Run folders: infonce-rgb, infonce-flow, cycle1-rgb, cycle1-flow, …
 */
export function coclrSchedule(
  o: Omit<CoclrOverrides, "cycle" | "init" | "sampler" | "epochs" | "steps"> & { flow: string; out: string; cycles: number; infonce: RunLength; perCycle: RunLength },
): CoclrRun[] {
  const { out, cycles, infonce, perCycle, ...shared } = o;
  const base: CoclrOverrides = { ...shared, cycle: undefined, init: undefined, sampler: undefined };
  const at = (name: string) => join(out, name);
  const runs: CoclrRun[] = [
    { name: "infonce-rgb", overrides: { ...base, ...infonce, flow: undefined } },
    { name: "infonce-flow", overrides: { ...base, ...infonce } },
  ];
  let newest = { rgb: "infonce-rgb", flow: "infonce-flow" };
  for (let c = 1; c <= cycles; c += 1) {
    for (const modality of ["rgb", "flow"] as const) {
      const name = `cycle${c}-${modality}`;
      const other = modality === "rgb" ? "flow" : "rgb";
      runs.push({ name, overrides: { ...base, ...perCycle, cycle: modality, init: at(newest[modality]), sampler: at(newest[other]) } });
      newest = { ...newest, [modality]: name };
    }
  }
  return runs;
}
