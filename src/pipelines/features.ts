/**
 * Evaluation features (METHODS.md §5): a pipeline `videos → decode` samples clips of every video (the training clip
 * geometry; 10 uniformly spaced 16-frame clips by default, PRP's protocol), the trained (or randomly initialised)
 * encoder turns each clip into a feature (PRP: encoder output → maxpool(1,2,2) → flatten; CoCLR: pooled), and the
 * clip features of a video are averaged. Per-clip features are kept too (TSP-style localisation features).
 */
import { createCpuPool } from "../core/cpuPool.ts";
import { DeadLetterSink } from "../core/deadLetter.ts";
import { ClipflowError } from "../core/errors.ts";
import { runPipeline } from "../core/runner.ts";
import type { PipelineSpec } from "../core/spec.ts";
import type { Sample } from "../core/types.ts";
import type { FeatureSet } from "../eval/retrieval.ts";
import { readCheckpoint } from "../io/checkpoint.ts";
import { flowCacheParams } from "../io/flowStore.ts";
import * as tf from "@tensorflow/tfjs";
import { compilePipelineSpec } from "../stages/index.ts";
import { bytesToUnit } from "../models/task.ts";
import { buildTrainer } from "../models/trainerHandle.ts";
import { taskModality } from "../models/config.ts";

export interface FeatureOptions {
  /** The run's spec (architecture and clip geometry). */
  spec: PipelineSpec;
  /** A checkpoint (run dir or checkpoint dir); undefined = random initialisation of the same architecture. */
  checkpoint?: string | undefined;
  data: string;
  clips?: number;
  /** Frame step between clip starts for dense (localisation) features; overrides `clips`. */
  stride?: number | undefined;
  protocol?: "prp" | "coclr";
  workers?: number | undefined;
  log?: (line: string) => void;
  /** A live progress line on stderr (videos done, rate, ETA); the CLI turns it on when stderr is a terminal. */
  progress?: boolean | undefined;
}

export interface VideoFeatures extends FeatureSet {
  ids: string[];
  /** Per video, its clip features [clips, dim]. */
  perClip: Float32Array[];
  clipCounts: number[];
  deadLetters: number;
}

/**
 * The clip geometry of a training spec: frames, stride and resize of its sampling stage, the crop of its sampling or
 * augmentation stage (centre crop at evaluation), and its normalisation stage if any.
 */
export interface ClipGeometry {
  decode: Record<string, unknown>;
  normalize: Record<string, unknown> | undefined;
  /** Flow encoders (specs sampling with flowPair, CoCLR): the flowPair fields (source, frames); RGB ones use `decode`. */
  flow?: { modality: "rgb" | "flow"; pair: Record<string, unknown>; crop: [number, number] | undefined };
}

/**
 * The fields of a spec's normalisation stage (mean, std, scale) for evaluation clips: the one for `modality`'s views
 * when the spec normalises modalities apart (a stage naming them), else the stage for every view.
 */
export function normalizationOf(spec: PipelineSpec, modality?: "rgb" | "flow"): Record<string, unknown> | undefined {
  const stages = spec.stages as Array<{ stage: string; views?: string[]; [field: string]: unknown }>;
  const normalize = stages.find((stage) => stage.stage === "normalize" && (modality === undefined || stage.views === undefined || stage.views.some((view) => view.startsWith(modality))));
  if (normalize === undefined) return undefined;
  const { stage: _stage, views: _views, id: _id, ...fields } = normalize;
  return fields;
}

export function clipGeometry(spec: PipelineSpec): ClipGeometry {
  type Record_ = { stage: string; [field: string]: unknown };
  const stages = spec.stages as Record_[];
  const sampler = stages.find((stage) => ["dilatedSample", "decode", "temporalTriplet", "segmentSample", "flowPair"].includes(stage.stage));
  if (sampler === undefined) {
    throw new ClipflowError("SpecError", "the spec has no sampling stage (dilatedSample, decode, temporalTriplet, segmentSample, flowPair) to take the clip geometry from", { field: "stages" });
  }
  const augment = stages.find((stage) => stage.stage === "spatialAugment");
  const crop = (augment?.size ?? sampler.crop) as [number, number] | undefined;
  if (sampler.stage === "flowPair") {
    const modality = taskModality((spec.train as { task?: Parameters<typeof taskModality>[0] } | undefined)?.task);
    const { stage: _stage, id: _id, numClips: _clips, modalities: _modalities, start: _start, ...pair } = sampler;
    if (modality === "rgb") {
      // RGB frames need no flow: decode them as flowPair does (at the short side of its flow cache or online flow)
      const shortSide = pair.source !== "online" && typeof pair.cacheDir === "string" ? flowCacheParams(pair.cacheDir).shortSide : (pair.shortSide ?? 256);
      const decode = { numFrames: pair.numFrames ?? 32, stride: pair.stride ?? 1, shortSide, ...(crop === undefined ? {} : { crop }) };
      return { decode, normalize: normalizationOf(spec, modality) };
    }
    return { decode: {}, normalize: normalizationOf(spec, modality), flow: { modality, pair, crop } };
  }
  const decode: Record<string, unknown> = {
    numFrames: sampler.numFrames ?? sampler.clipFrames ?? 16,
    stride: sampler.stage === "dilatedSample" || sampler.stage === "segmentSample" ? 1 : (sampler.stride ?? 1),
    ...(sampler.targetFps === undefined ? {} : { targetFps: sampler.targetFps }),
    ...(sampler.width === undefined ? {} : { width: sampler.width, height: sampler.height }),
    ...(sampler.shortSide === undefined ? {} : { shortSide: sampler.shortSide }),
    ...(crop === undefined ? {} : { crop }),
  };
  return { decode, normalize: normalizationOf(spec) };
}

export async function extractFeatures(options: FeatureOptions): Promise<VideoFeatures> {
  const { spec } = options;
  const protocol = options.protocol ?? "prp";
  const geometry = clipGeometry(spec);
  const trainer = await buildTrainer(spec, options.log);
  if (options.checkpoint !== undefined) {
    const { state } = await readCheckpoint(options.checkpoint);
    trainer.restore(state, "weights");
  }
  const sampling = options.stride === undefined ? { numClips: options.clips ?? 10, start: "uniform" } : { numClips: 1, start: "sliding", every: options.stride };
  const { flow } = geometry;
  if (flow !== undefined && options.stride !== undefined) {
    throw new ClipflowError("ConfigError", "dense features (--stride) are not available for flow encoders", { field: "--stride" });
  }
  const sample = flow === undefined
    ? [{ stage: "decode", ...geometry.decode, ...sampling, outOfBounds: "repeatLast" }]
    : [
        { stage: "flowPair", ...flow.pair, numClips: options.clips ?? 10, start: "uniform", modalities: [flow.modality] },
        ...(flow.crop === undefined ? [] : [{ stage: "spatialAugment", crop: "centre", size: flow.crop, flip: 0 }]),
      ];
  const { pipeline } = compilePipelineSpec({
    seed: spec.seed,
    stages: [{ stage: "videos", data: options.data }, ...sample, ...(geometry.normalize === undefined ? [] : [{ stage: "normalize", ...geometry.normalize }])],
  });
  const ids: string[] = [];
  const labels: number[] = [];
  const means: Float32Array[] = [];
  const perClip: Float32Array[] = [];
  const clipCounts: number[] = [];
  let dim = 0;
  const cpu = createCpuPool(options.workers);
  const deadLetters = new DeadLetterSink();
  try {
    await runPipeline(
      pipeline.stages,
      (value: unknown) => {
        const sample = value as Sample;
        const views = Object.keys(sample.views).sort((a, b) => Number(a.replace(/\D/g, "")) - Number(b.replace(/\D/g, "")));
        const first = sample.views[views[0]!]!;
        const per = first.data.length;
        const floats = first.data instanceof Float32Array;
        const stacked = floats ? new Float32Array(per * views.length) : new Uint8Array(per * views.length);
        views.forEach((name, i) => stacked.set(sample.views[name]!.data, i * per));
        // Clip features in chunks of 16 clips (dense extraction gives hundreds of clips for a long video).
        const shape = first.shape;
        const chunks: Float32Array[] = [];
        for (let start = 0; start < views.length; start += 16) {
          const count = Math.min(16, views.length - start);
          const slice = stacked.subarray(start * per, (start + count) * per);
          const features = tf.tidy(() => {
            const clipShape = [count, ...shape] as [number, number, number, number, number];
            const clips = (floats ? tf.tensor(slice, clipShape) : bytesToUnit(slice as Uint8Array, clipShape)) as tf.Tensor5D;
            return trainer.task.features(clips, protocol);
          });
          dim = features.shape[1];
          chunks.push(features.dataSync() as Float32Array);
          features.dispose();
        }
        const values = new Float32Array(views.length * dim);
        chunks.forEach((chunk, i) => values.set(chunk, i * 16 * dim));
        const mean = new Float32Array(dim);
        for (let c = 0; c < views.length; c += 1) for (let d = 0; d < dim; d += 1) mean[d]! += values[c * dim + d]! / views.length;
        ids.push(sample.videoId);
        labels.push(typeof sample.targets.label === "number" ? sample.targets.label : -1);
        means.push(mean);
        perClip.push(values);
        clipCounts.push(views.length);
      },
      { seed: spec.seed, cpu, deadLetters, progress: options.progress === true },
    );
  } finally {
    await cpu.close();
    trainer.task.dispose();
    trainer.optimizer.dispose();
  }
  const features = new Float32Array(means.length * dim);
  means.forEach((mean, i) => features.set(mean, i * dim));
  return { ids, labels, features, dim, perClip, clipCounts, deadLetters: deadLetters.total };
}
