/**
 * TSP's default pipeline (METHODS.md §4): annotated untrimmed videos → segmentSample (5 clips per segment, 16 frames
 * at 15 fps, resize 128×171) → random crop 112 + flip 0.5 → Kinetics normalisation → gvf (global video features from
 * `clipflow extract` of a previously trained encoder, max over time) → shuffle buffer (48 clips) → batch 32 → train (R(2+1)D-18, action head
 * Linear(512, C), region head Linear(1024, 2); SGD momentum 0.9, wd 0.005, stem frozen, backbone lr 1e-4, heads ×20 =
 * 0.002; linear warm-up over 2 epochs then ×0.01 at epochs 4 and 6; 8 epochs). Without a GVF file it is TAC, the
 * action-head-only baseline.
 */
import type { PipelineOverrides } from "./prp.ts";

export interface TspOverrides extends PipelineOverrides {
  classes: number;
  gvf?: string | undefined;
}

export function tspSpec(o: TspOverrides): Record<string, unknown> {
  const size = o.size ?? 112;
  return {
    name: o.gvf === undefined ? "tac" : "tsp",
    seed: o.seed ?? 0,
    maxInFlight: 128,
    stages: [
      { stage: "videos", data: o.data, shuffle: true },
      { stage: "segmentSample", clipsPerSegment: 5, numFrames: o.frames ?? 16, targetFps: 15, width: Math.round((size * 171) / 112), height: Math.round((size * 128) / 112) },
      { stage: "spatialAugment", crop: "random", size: [size, size], flip: 0.5 },
      { stage: "normalize", mean: [0.43216, 0.394666, 0.37645], std: [0.22803, 0.22145, 0.216989] },
      ...(o.gvf === undefined ? [] : [{ stage: "gvf", data: o.gvf, pool: "max" }]),
      // A segment's clips arrive together: mix clips of many segments and videos in each batch, as the reference's
      // shuffled list of all clips does.
      { stage: "shuffle", buffer: 48 },
      { stage: "batch", size: o.batch ?? 32 },
    ],
    train: {
      task: { kind: "tsp", backbone: { name: o.backbone ?? "r2plus1d", width: o.width ?? 1, blocks: 2 }, classes: o.classes, regionHead: o.gvf !== undefined },
      optimizer: { kind: "sgd", lr: o.lr ?? 1e-4, momentum: 0.9, weightDecay: 0.005, groups: { stem: 0, head: 20 } },
      schedule: { kind: "multiStep", milestones: [4, 6], gamma: 0.01, warmup: 2 },
      epochs: o.epochs ?? 8,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}
