/**
 * Evaluation of a run (METHODS.md §5): features of the train and test videos from the run's encoder (or the same
 * architecture at random initialisation), then nearest-neighbour retrieval R@k and/or a linear probe on frozen
 * features. Results are plain JSON objects (written by the CLI and drawn in report.html).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ClipflowError } from "../core/errors.ts";
import type { PipelineSpec } from "../core/spec.ts";
import { linearProbe } from "../eval/linearProbe.ts";
import { retrievalRecall, type RetrievalProtocol } from "../eval/retrieval.ts";
import { readCheckpoint, runDirOf } from "../io/checkpoint.ts";
import { parsePipelineSpec } from "../stages/index.ts";
import { extractFeatures, type VideoFeatures } from "./features.ts";

export interface EvaluateOptions {
  /** Run directory or checkpoint. */
  checkpoint: string;
  train: string;
  test: string;
  kinds: Array<"retrieval" | "linear">;
  protocol?: RetrievalProtocol;
  randomInit?: boolean;
  /** With randomInit: the seed of the untrained weights (default: the run's seed), to see how baselines vary. */
  initSeed?: number | undefined;
  clips?: number;
  workers?: number | undefined;
  /** Linear-probe epochs (CoCLR: 100). */
  probeEpochs?: number;
  log?: (line: string) => void;
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
  const common = { spec: initial, checkpoint: options.randomInit ? undefined : dir, clips: options.clips ?? 10, protocol, workers: options.workers, ...(options.log ? { log: options.log } : {}) };
  const train = await extractFeatures({ ...common, data: options.train });
  const test = await extractFeatures({ ...common, data: options.test });
  return scoreFeatures(train, test, options.kinds, protocol, { randomInit: options.randomInit === true, checkpoint: dir, probeEpochs: options.probeEpochs ?? 100, seed: spec.seed });
}

export function scoreFeatures(
  train: VideoFeatures,
  test: VideoFeatures,
  kinds: Array<"retrieval" | "linear">,
  protocol: RetrievalProtocol,
  settings: { randomInit: boolean; checkpoint: string; probeEpochs: number; seed: number },
): Record<string, unknown> {
  for (const [name, set] of [["train", train], ["test", test]] as const) {
    if (set.labels.length === 0) throw new ClipflowError("ConfigError", `the ${name} data gave no videos to evaluate`, { field: `--${name}` });
    if (Array.from(set.labels).some((label) => label < 0)) throw new ClipflowError("ConfigError", `the ${name} data has unlabelled videos; evaluation needs class labels`, { field: `--${name}` });
  }
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
