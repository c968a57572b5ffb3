/**
 * PRP's default pipeline (METHODS.md §1): videos (shuffled per epoch) → dilatedSample (rate s ∈ {1,2,4,8}, 16-frame
 * encoder clip, 32-frame slow-motion target, DPAU motion weight; resize 128×171, centre crop 112) → batch 8 → train
 * (R(2+1)D-10, rate classifier + decoder, SGD momentum 0.9, wd 5e-4, lr 0.01 with the final Linear at 10×,
 * ReduceLROnPlateau(patience 50, ×0.1, min 1e-7)). Every value can be overridden from the CLI or a JSON spec.
 */
export interface PipelineOverrides {
  data: string;
  epochs?: number | undefined;
  steps?: number | undefined;
  batch?: number | undefined;
  backbone?: string | undefined;
  width?: number | undefined;
  size?: number | undefined;
  frames?: number | undefined;
  lr?: number | undefined;
  seed?: number | undefined;
}

export function prpSpec(o: PipelineOverrides): Record<string, unknown> {
  const size = o.size ?? 112;
  const lr = o.lr ?? 0.01;
  return {
    name: "prp",
    seed: o.seed ?? 0,
    maxInFlight: 32,
    stages: [
      { stage: "videos", data: o.data, shuffle: true },
      {
        stage: "dilatedSample",
        rates: [1, 2, 4, 8],
        shortVideo: "lowerRate",
        width: Math.round((size * 171) / 112),
        height: Math.round((size * 128) / 112),
        crop: [size, size],
      },
      { stage: "batch", size: o.batch ?? 8 },
    ],
    train: {
      task: { kind: "prp", backbone: { name: o.backbone ?? "r2plus1d", width: o.width ?? 1, blocks: 1 }, rates: 4, lambda: 0.1 },
      optimizer: { kind: "sgd", lr, momentum: 0.9, weightDecay: 5e-4, groups: { final: 10 } },
      schedule: { kind: "plateau", patience: 50, factor: 0.1, minLr: 1e-7 },
      epochs: o.epochs ?? 300,
      ...(o.steps === undefined ? {} : { steps: o.steps }),
    },
  };
}
