/**
 * A new pretext composed in code from existing stages: "arrow of time" (is the clip played forwards or backwards?).
 * One new stage (reverse a clip with probability 1/2, label it), one new task (backbone → pooled → linear → CE), and
 * everything else reused: the videos source, the decode stage, batching, the runner, checkpoints, metrics.
 * Run: npx tsx examples/arrowOfTime.ts [DATA] [RUN] [STEPS]   (DATA defaults to data/demo-actions/trainlist01.txt)
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import { chain } from "../src/core/pipeline.ts";
import { defineStage } from "../src/core/stage.ts";
import type { Rng } from "../src/core/rng.ts";
import type { Sample } from "../src/core/types.ts";
import { crossEntropy } from "../src/losses/prp.ts";
import { createBackbone } from "../src/models/backbones.ts";
import { globalAvgPool } from "../src/models/heads.ts";
import { linearLayer } from "../src/models/layers.ts";
import { ParamStore } from "../src/models/params.ts";
import { targetTensor, viewTensor, type Task } from "../src/models/task.ts";
import { pretrain } from "../src/pipelines/pretrain.ts";
import { batch, decode, parsePipelineSpec, videos } from "../src/stages/index.ts";

/** Reverses the frames of view `rgb` with probability 1/2 (from the sample's own RNG stream); target `reversed`. */
const reverseClip = defineStage({
  name: "reverseClip",
  in: "sample",
  out: "sample",
  config: z.object({ probability: z.number().min(0).max(1).default(0.5) }),
  create: (config) => ({
    kind: "map",
    map: async (sample: Sample, ctx): Promise<Sample> => {
      const view = sample.views.rgb!;
      const reversed = ctx.rng.bernoulli(config.probability);
      const [t, h, w, c] = view.shape;
      const frame = h * w * c;
      const data = new Uint8Array(view.data.length);
      for (let i = 0; i < t; i += 1) data.set(view.data.subarray((reversed ? t - 1 - i : i) * frame, (reversed ? t - i : i + 1) * frame), i * frame);
      return { ...sample, views: { ...sample.views, rgb: { ...view, data } }, targets: { ...sample.targets, reversed: reversed ? 1 : 0 } };
    },
  }),
});

/** The task: a small R3D, global average pooling, a 2-way linear classifier, cross-entropy. */
function arrowTask(rng: Rng): Task {
  const store = new ParamStore(rng);
  const backbone = createBackbone(store, { name: "r3d", width: 0.0625, blocks: 1 });
  const head = linearLayer(store, "head", backbone.channels, 2);
  return {
    kind: "arrowOfTime",
    store,
    loss: (b) => {
      const loss = crossEntropy(head(globalAvgPool(backbone.forward(viewTensor(b, "rgb"), true))), targetTensor(b, "reversed", "int32") as tf.Tensor1D);
      return { loss, terms: { ce: loss } };
    },
    features: (clips) => globalAvgPool(backbone.forward(clips, false)),
    stateTensors: () => new Map(),
    stateScalars: () => ({}),
    restoreScalars: () => undefined,
    dispose: () => store.dispose(),
  };
}

const [data = "data/demo-actions/trainlist01.txt", out = "runs/arrow-of-time", steps = "20"] = process.argv.slice(2);
const pipeline = chain(
  videos({ data, shuffle: true }),
  decode({ numFrames: 8, stride: 2, width: 32, height: 32, outOfBounds: "repeatLast" }),
  reverseClip({}),
  batch({ size: 4 }),
);
const spec = parsePipelineSpec({
  name: "arrow-of-time",
  stages: [{ stage: "videos", data }],
  train: { task: { kind: "custom", name: "arrowOfTime" }, optimizer: { lr: 0.05, weightDecay: 1e-4 }, epochs: 100, steps: Number(steps) },
});
const result = await pretrain({ spec, stages: pipeline.stages, task: arrowTask, out, progress: false });
console.log(`arrow of time: ${result.steps} steps, last loss ${result.lastLoss.toFixed(4)}, run in ${out}`);
