/**
 * Temporal localisation evaluation of a TSP / TAC run (METHODS.md §4): on annotated untrimmed videos, clips are taken
 * at the centre of every segment ("Action" and "No action" alike, `clipsPerSegment` evenly spread), with the run's
 * clip geometry (segmentSample's frames, fps and size, centre crop, normalisation).
 * - Features localise: a linear probe (CoCLR's) trained on the pooled clip features of the train videos to tell action
 *   from background, scored on the test videos' clips (accuracy and balanced accuracy: the mean of the per-region
 *   recalls, so that always answering the larger region scores 50 %). The same for the untrained architecture with
 *   `randomInit`: the baseline beside every number.
 * - TSP's region head: with a GVF file for the test videos (`clipflow extract` of the GVF encoder on them), its own
 *   foreground/background predictions on the test clips, scored the same way.
 */
import * as tf from "@tensorflow/tfjs";
import { createCpuPool } from "../core/cpuPool.ts";
import { DeadLetterSink } from "../core/deadLetter.ts";
import { ClipflowError } from "../core/errors.ts";
import { runPipeline } from "../core/runner.ts";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { linearProbe } from "../eval/linearProbe.ts";
import { readCheckpoint } from "../io/checkpoint.ts";
import { viewTensor } from "../models/task.ts";
import { compilePipelineSpec } from "../stages/index.ts";
import { specOfCheckpoint } from "./evaluate.ts";
import { buildTrainer } from "../models/trainerHandle.ts";
import { normalizationOf } from "./features.ts";

export interface LocalisationOptions {
  checkpoint: string;
  /** Annotations (TSP CSV) of the videos the probe is trained on, and of the held-out ones it is scored on. */
  train: string;
  test: string;
  randomInit?: boolean;
  /** GVF file covering the test videos: scores TSP's region head. */
  gvf?: string | undefined;
  clipsPerSegment?: number;
  probeEpochs?: number;
  workers?: number | undefined;
  log?: (line: string) => void;
}

interface ClipSet {
  features: Float32Array[];
  regions: number[];
  /** Region head's answer per clip (when scored). */
  predicted: number[];
  deadLetters: number;
}

/** Accuracy and balanced accuracy (mean recall of the two regions) of predictions against region labels. */
export function regionScores(predicted: ArrayLike<number>, truth: ArrayLike<number>): { accuracy: number; balancedAccuracy: number; foreground: number } {
  const hits = [0, 0];
  const counts = [0, 0];
  for (let i = 0; i < truth.length; i += 1) {
    const t = truth[i] as number;
    counts[t]! += 1;
    if (predicted[i] === t) hits[t]! += 1;
  }
  const recalls = [0, 1].filter((r) => counts[r]! > 0).map((r) => hits[r]! / counts[r]!);
  return {
    accuracy: (hits[0]! + hits[1]!) / Math.max(1, truth.length),
    balancedAccuracy: recalls.reduce((a, b) => a + b, 0) / Math.max(1, recalls.length),
    foreground: counts[1]! / Math.max(1, truth.length),
  };
}

function segmentGeometry(spec: PipelineSpec): { sample: Record<string, unknown>; crop: unknown; normalize: Record<string, unknown> | undefined } {
  type Record_ = { stage: string; [field: string]: unknown };
  const stages = spec.stages as Record_[];
  const sampler = stages.find((stage) => stage.stage === "segmentSample");
  if (sampler === undefined) {
    throw new ClipflowError("ConfigError", "localisation evaluation takes its clip geometry from a segmentSample stage: evaluate a TSP or TAC run", { field: "--checkpoint" });
  }
  const { stage: _s, id: _i, clipsPerSegment: _c, mode: _m, ...sample } = sampler;
  const crop = stages.find((stage) => stage.stage === "spatialAugment")?.size;
  return { sample, crop, normalize: normalizationOf(spec) };
}

export async function evaluateLocalisation(options: LocalisationOptions): Promise<Record<string, unknown>> {
  const { spec, dir } = await specOfCheckpoint(options.checkpoint);
  const geometry = segmentGeometry(spec);
  const trainer = await buildTrainer(spec, options.log);
  const cpu = createCpuPool(options.workers);
  try {
    if (!options.randomInit) trainer.restore((await readCheckpoint(dir)).state, "weights");
    const { task } = trainer;
    const clips = async (data: string, gvf: string | undefined): Promise<ClipSet> => {
      const { pipeline } = compilePipelineSpec({
        seed: spec.seed,
        stages: [
          { stage: "videos", data },
          { stage: "segmentSample", ...geometry.sample, mode: "centre", clipsPerSegment: options.clipsPerSegment ?? 1 },
          ...(geometry.crop === undefined ? [] : [{ stage: "spatialAugment", crop: "centre", size: geometry.crop, flip: 0 }]),
          ...(geometry.normalize === undefined ? [] : [{ stage: "normalize", ...geometry.normalize }]),
          ...(gvf === undefined ? [] : [{ stage: "gvf", data: gvf, pool: "max" }]),
          { stage: "batch", size: 16, keepPartial: true },
        ],
      });
      const set: ClipSet = { features: [], regions: [], predicted: [], deadLetters: 0 };
      const deadLetters = new DeadLetterSink();
      await runPipeline(
        pipeline.stages,
        (value: unknown) => {
          const batch = value as Batch;
          tf.tidy(() => {
            // with GVF the heads' pass gives the features too (one backbone pass per batch)
            const scored = gvf === undefined ? undefined : task.heads?.(batch);
            if (gvf !== undefined && scored?.logits.region === undefined) {
              throw new ClipflowError("ConfigError", `--gvf scores a region head, and this ${task.kind} run has none (TAC)`, { field: "--gvf" });
            }
            const features = (scored?.features ?? task.features(viewTensor(batch, "rgb"), "coclr")).arraySync();
            set.features.push(...features.map((row) => Float32Array.from(row)));
            if (scored?.logits.region !== undefined) set.predicted.push(...(tf.argMax(scored.logits.region, 1).arraySync() as number[]));
          });
          set.regions.push(...Array.from(batch.targets.region!.data, Number));
        },
        { seed: spec.seed, cpu, deadLetters },
      );
      set.deadLetters = deadLetters.total;
      return set;
    };
    const train = await clips(options.train, undefined);
    const test = await clips(options.test, options.gvf);
    for (const [name, set] of [["train", train], ["test", test]] as const) {
      if (new Set(set.regions).size < 2) throw new ClipflowError("ConfigError", `the ${name} annotations need both "Action" and "No action" segments`, { field: `--${name}` });
    }
    const dim = train.features[0]!.length;
    const flat = (set: ClipSet) => ({ features: Float32Array.from(set.features.flatMap((row) => Array.from(row))), labels: set.regions, dim });
    const probe = linearProbe(flat(train), flat(test), { epochs: options.probeEpochs ?? 100, seed: spec.seed });
    const result: Record<string, unknown> = {
      checkpoint: dir,
      randomInit: options.randomInit === true,
      trainClips: train.regions.length,
      testClips: test.regions.length,
      deadLetters: train.deadLetters + test.deadLetters,
      probe: regionScores(probe.predictions, test.regions),
    };
    if (options.gvf !== undefined) result.regionHead = regionScores(test.predicted, test.regions);
    return result;
  } finally {
    await cpu.close();
    trainer.task.dispose();
    trainer.optimizer.dispose();
  }
}
