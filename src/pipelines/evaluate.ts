/**
 * Evaluation of a run (METHODS.md §5): features of the train and test videos from the run's encoder (or the same
 * architecture at random initialisation), then nearest-neighbour retrieval R@k and/or a linear probe on frozen
 * features. Results are plain JSON objects (written by the CLI and drawn in report.html).
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { ClipflowError } from "../core/errors.ts";
import type { PipelineSpec } from "../core/spec.ts";
import { linearProbe } from "../eval/linearProbe.ts";
import { compareEncoders, type Comparison, type ScoredEncoder } from "../eval/compare.ts";
import { firstHitRanks, retrievalRecall, type RetrievalProtocol } from "../eval/retrieval.ts";
import { readCheckpoint, runDirOf } from "../io/checkpoint.ts";
import { parsePipelineSpec } from "../stages/index.ts";
import { extractFeatures, type VideoFeatures } from "./features.ts";

/** The data and settings every evaluation extracts and scores with. */
interface EvaluationData {
  train: string;
  test: string;
  protocol?: RetrievalProtocol;
  clips?: number;
  workers?: number | undefined;
  /** Linear-probe epochs (CoCLR: 100). */
  probeEpochs?: number;
  log?: (line: string) => void;
  progress?: boolean | undefined;
}

export interface EvaluateOptions extends EvaluationData {
  /** Run directory or checkpoint. */
  checkpoint: string;
  kinds: Array<"retrieval" | "linear">;
  randomInit?: boolean;
  /** With randomInit: the seed of the untrained weights (default: the run's seed), to see how baselines vary. */
  initSeed?: number | undefined;
}

/** Features of the train and test videos from one encoder (a checkpoint, or random weights when it is undefined). */
async function extractBoth(spec: PipelineSpec, checkpoint: string | undefined, options: EvaluationData): Promise<{ train: VideoFeatures; test: VideoFeatures }> {
  const common = { spec, checkpoint, clips: options.clips ?? 10, protocol: options.protocol ?? "prp", workers: options.workers, progress: options.progress, ...(options.log ? { log: options.log } : {}) };
  return { train: await extractFeatures({ ...common, data: options.train }), test: await extractFeatures({ ...common, data: options.test }) };
}

/** The parsed spec a checkpoint was trained with. */
export async function specOfCheckpoint(checkpoint: string): Promise<{ spec: PipelineSpec; dir: string }> {
  const { dir, meta } = await readCheckpoint(checkpoint);
  const spec = meta.spec ?? JSON.parse(readFileSync(join(runDirOf(dir), "spec.json"), "utf8"));
  return { spec: parsePipelineSpec(spec), dir };
}

export async function evaluate(options: EvaluateOptions): Promise<Record<string, unknown>> {
  const protocol = options.protocol ?? "prp";
  const { spec, dir } = await specOfCheckpoint(options.checkpoint);
  if (options.initSeed !== undefined && !options.randomInit) throw new ClipflowError("ConfigError", "--init-seed sets the weights of --random-init; add --random-init", { field: "--init-seed" });
  const initial = options.initSeed === undefined ? spec : { ...spec, seed: options.initSeed };
  const { train, test } = await extractBoth(initial, options.randomInit ? undefined : dir, options);
  return scoreFeatures(train, test, options.kinds, protocol, { randomInit: options.randomInit === true, checkpoint: dir, probeEpochs: options.probeEpochs ?? 100, seed: spec.seed });
}

export interface CompareOptions extends EvaluationData {
  /** Pretrained runs (run directories or checkpoints); the first one's architecture is the one initialised at random. */
  checkpoints: string[];
  /** Random initialisations of that architecture, at init seeds 0 … randomInits − 1. */
  randomInits: number;
  resamples?: number;
}

/**
 * Every pretrained run and `randomInits` random initialisations, each extracted once and scored on the same test
 * videos (R@1/5/10 and the linear probe, one probe seed for all), then compared with a bootstrap over test videos
 * (src/eval/compare.ts).
 */
export async function compareRuns(options: CompareOptions): Promise<Comparison> {
  if (options.checkpoints.length === 0) throw new ClipflowError("ConfigError", "clipflow eval compare: give at least one --checkpoint", { field: "--checkpoint" });
  if (options.randomInits < 1) throw new ClipflowError("ConfigError", "clipflow eval compare: --random-inits must be at least 1", { field: "--random-inits" });
  const protocol = options.protocol ?? "prp";
  const encoders: Array<{ name: string; spec: PipelineSpec; dir: string | undefined }> = [];
  for (const checkpoint of options.checkpoints) {
    const { spec, dir } = await specOfCheckpoint(checkpoint);
    encoders.push({ name: runName(dir), spec, dir });
  }
  const base = encoders[0]!.spec;
  for (let seed = 0; seed < options.randomInits; seed++) encoders.push({ name: `init seed ${seed}`, spec: { ...base, seed }, dir: undefined });
  const scored: ScoredEncoder[] = [];
  for (const encoder of encoders) {
    options.log?.(`compare: ${encoder.name}${encoder.dir === undefined ? " (random init)" : ""}`);
    const { train, test } = await extractBoth(encoder.spec, encoder.dir, options);
    requireLabels(train, test);
    const probe = linearProbe(train, test, { epochs: options.probeEpochs ?? 100, seed: 0 });
    scored.push({
      name: encoder.name,
      randomInit: encoder.dir === undefined,
      ranks: firstHitRanks(train, test, { protocol, maxK: 10 }),
      correct: Uint8Array.from(probe.predictions, (p, i) => (p === test.labels[i] ? 1 : 0)),
    });
  }
  return compareEncoders(scored, { ks: [1, 5, 10], resamples: options.resamples ?? 2000 });
}

/** Both sets have videos, all with class labels. */
function requireLabels(train: VideoFeatures, test: VideoFeatures): void {
  for (const [name, set] of [["train", train], ["test", test]] as const) {
    if (set.labels.length === 0) throw new ClipflowError("ConfigError", `the ${name} data gave no videos to evaluate`, { field: `--${name}` });
    if (Array.from(set.labels).some((label) => label < 0)) throw new ClipflowError("ConfigError", `the ${name} data has unlabelled videos; evaluation needs class labels`, { field: `--${name}` });
  }
}

/** A short name for a run: its directory (the parent of checkpoints/…). */
function runName(dir: string): string {
  return basename(runDirOf(dir));
}

export function scoreFeatures(
  train: VideoFeatures,
  test: VideoFeatures,
  kinds: Array<"retrieval" | "linear">,
  protocol: RetrievalProtocol,
  settings: { randomInit: boolean; checkpoint: string; probeEpochs: number; seed: number },
): Record<string, unknown> {
  requireLabels(train, test);
  const result: Record<string, unknown> = {
    protocol,
    randomInit: settings.randomInit,
    checkpoint: settings.checkpoint,
    trainVideos: train.labels.length,
    testVideos: test.labels.length,
    dim: train.dim,
    clipsPerVideo: train.clipCounts[0] ?? 0,
  };
  if (kinds.includes("retrieval")) Object.assign(result, retrievalRecall(train, test, { protocol }));
  if (kinds.includes("linear")) {
    const probe = linearProbe(train, test, { epochs: settings.probeEpochs, seed: settings.seed });
    Object.assign(result, { accuracy: probe.accuracy, trainAccuracy: probe.trainAccuracy, probeEpochs: settings.probeEpochs });
  }
  return result;
}
