/**
 * The pretraining loop: the spec's stages feed batches to the train step, which is the runner's sink (so the data
 * pipeline's backpressure and the time the step waits for data are both measured where they happen). One runner pass
 * per epoch with that epoch's RNG streams; metrics.jsonl gets one line per step; checkpoints every N steps, at the end
 * of each epoch and on cancellation (Ctrl-C), each with the data cursor so that `resume` replays the same order.
 */
import { existsSync, readFileSync } from "node:fs";
import { appendFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCpuPool } from "../core/cpuPool.ts";
import { DeadLetterSink } from "../core/deadLetter.ts";
import { ClipflowError } from "../core/errors.ts";
import { formatDuration, JsonlWriter } from "../core/metrics.ts";
import { runPipeline } from "../core/runner.ts";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { readCheckpoint, writeCheckpoint } from "../io/checkpoint.ts";
import type { Stage } from "../core/stage.ts";
import type { TaskFactory } from "../models/tasks.ts";
import { localTrainer, threadTrainer, trainOf } from "../models/trainerHandle.ts";
import { compilePipelineSpec } from "../stages/index.ts";

export interface PretrainOptions {
  /** Seed, in-flight bound, the `train` section, and the stages (unless `stages` is given). */
  spec: PipelineSpec;
  /** A pipeline composed in code (`chain(...)`), ending in batches; replaces the spec's stages. */
  stages?: readonly Stage<unknown, unknown>[];
  /** A task (network + loss) written in code, for `train.task.kind: "custom"`. */
  task?: TaskFactory;
  out: string;
  resume?: boolean;
  workers?: number | undefined;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** A live progress line on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /**
   * Train on a thread of its own so that the data pipeline runs during each step (default true; a task written in
   * code always trains on this thread).
   */
  trainerThread?: boolean;
}

export interface PretrainResult {
  status: "completed" | "cancelled";
  steps: number;
  epochs: number;
  lastLoss: number;
  checkpoint: string | undefined;
  elapsedMs: number;
  clipsPerSecond: number;
  deadLetters: number;
}

function batchSizeOf(spec: PipelineSpec, stages?: readonly Stage<unknown, unknown>[]): number {
  const records = stages === undefined ? spec.stages : stages.map((stage) => stage.toSpec());
  const record = records.find((stage) => stage.stage === "batch") as { size?: number } | undefined;
  return record?.size ?? 1;
}

/** Spec without the fields that may change between a run and its resumption (length of the run). */
function comparable(spec: unknown): string {
  const copy = JSON.parse(JSON.stringify(spec)) as { train?: Record<string, unknown> };
  if (copy.train !== undefined) {
    delete copy.train.epochs;
    delete copy.train.steps;
    delete copy.train.checkpointEvery;
  }
  return JSON.stringify(copy);
}

/**
 * Batches per epoch, when the plan tells: the source's size when every item gives one sample, or the sum of each
 * flatMap's `expected` count over the source's listed items (TSP: clips per video from its segments). Undefined when
 * a flatMap cannot say (a linear warm-up then steps once per epoch instead of once per batch). Samples dropped as
 * dead letters make the real count smaller.
 */
export function batchesPerEpoch(stages: readonly Stage<unknown, unknown>[], batchSize: number): number | undefined {
  const source = stages[0]?.impl as { size?: number; listed?: readonly unknown[] } | undefined;
  const flatMaps = stages.filter((stage) => stage.impl.kind === "flatMap").map((stage) => stage.impl as { expected?: (input: unknown) => number });
  if (flatMaps.length === 0) return source?.size === undefined ? undefined : Math.floor(source.size / batchSize);
  if (source?.listed === undefined || flatMaps.length > 1 || flatMaps[0]!.expected === undefined) return undefined;
  const expected = flatMaps[0]!.expected;
  return Math.floor(source.listed.reduce<number>((sum, item) => sum + expected(item), 0) / batchSize);
}

export async function pretrain(options: PretrainOptions): Promise<PretrainResult> {
  const { spec, out } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const train = trainOf(spec);
  const specPath = join(out, "spec.json");
  if (!options.resume && existsSync(join(out, "checkpoints", "latest.json"))) {
    throw new ClipflowError("ConfigError", `${out} already holds a run: pass --resume to continue it, or choose another --out`, { field: "--out" });
  }
  await mkdir(out, { recursive: true });
  // What the run records: the spec, with the stages of a pipeline composed in code in place of the spec's own.
  const recorded = options.stages === undefined ? spec : { ...spec, stages: options.stages.map((stage) => stage.toSpec()) };
  // The trainer runs on a thread of its own unless its task is written in code (functions cannot cross threads) or
  // the caller asks otherwise: the main thread then keeps the data pipeline going during each step.
  const ownThread = (options.trainerThread ?? true) && options.task === undefined;
  const trainer = ownThread ? await threadTrainer(spec, log) : await localTrainer(spec, log, options.task);
  const cpu = createCpuPool(options.workers);
  const showProgress = options.progress ?? process.stderr.isTTY === true;
  const deadLetters = new DeadLetterSink(join(out, "dead-letter.jsonl"));
  const started = performance.now();
  let step = 0;
  let clips = 0;
  let lastLoss = NaN;
  let checkpoint: string | undefined;
  let status: PretrainResult["status"] = "completed";
  let epoch = 0;
  // Everything from here on releases the trainer (and its threads) and the pool however it ends (a thread left
  // running would keep the process alive after an error).
  try {
    await trainer.prepare(options.resume === true);
    let startEpoch = 0;
    let skip = 0;
    if (options.resume) {
      const { meta, state } = await readCheckpoint(out);
      if (existsSync(specPath) && comparable(JSON.parse(readFileSync(specPath, "utf8"))) !== comparable(recorded)) {
        throw new ClipflowError("CheckpointError", `the run in ${out} was made with a different spec (spec.json differs beyond epochs/steps); start a new run instead`, { field: "spec" });
      }
      await trainer.restore(state);
      step = meta.step;
      startEpoch = meta.epoch;
      skip = meta.cursor;
      log(`resuming ${out} at step ${step} (epoch ${startEpoch}, batch ${skip})`);
    }
    await writeFile(specPath, `${JSON.stringify(recorded, null, 2)}\n`);
    const stages = options.stages ?? compilePipelineSpec(spec).pipeline.stages;
    const batchSize = batchSizeOf(spec, options.stages);
    const perEpoch = batchesPerEpoch(stages, batchSize);
    const sourceSize = (stages[0]?.impl as { size?: number } | undefined)?.size;
    if (perEpoch === 0) {
      throw new ClipflowError("ConfigError", `an epoch of the data (${sourceSize} videos) gives fewer samples than one batch of ${batchSize}: nothing to train on`, { field: "stages[0].data" });
    }
    const totalSteps = train.steps ?? (perEpoch === undefined ? undefined : perEpoch * train.epochs);
    const metrics = new JsonlWriter(join(out, "metrics.jsonl"));
    await appendFile(join(out, "dead-letter.jsonl"), "");
    const save = async (cursor: number, atEpoch: number) => {
      checkpoint = await writeCheckpoint(out, await trainer.snapshot(), { step, epoch: atEpoch, cursor, spec: recorded });
    };
    for (epoch = startEpoch; epoch < train.epochs; epoch += 1) {
      if (train.steps !== undefined && step >= train.steps) break;
      await trainer.beginEpoch(epoch);
      let cursor = 0;
      let lossSum = 0;
      let lossCount = 0;
      let lastDone = performance.now();
      const summary = await runPipeline(
        stages,
        async (value: unknown, info) => {
          const batch = value as Batch;
          cursor += 1;
          if (cursor <= skip) {
            lastDone = performance.now();
            return;
          }
          const waitMs = performance.now() - lastDone;
          const result = await trainer.step(batch, { epoch, batch: cursor - 1, perEpoch });
          step += 1;
          clips += result.clips;
          lastLoss = result.loss;
          lossSum += result.loss;
          lossCount += 1;
          const elapsed = (performance.now() - started) / 1000;
          metrics.write({
            step,
            epoch,
            loss: result.loss,
            ...result.terms,
            lr: result.lr,
            clips_per_s: result.clips / ((performance.now() - lastDone) / 1000),
            data_wait_ms: waitMs,
            step_ms: result.stepMs,
            time: elapsed,
          });
          if (showProgress) {
            const rate = clips / elapsed;
            const eta = totalSteps === undefined ? "" : ` · ETA ${formatDuration(((totalSteps - step) * batchSize) / Math.max(rate, 1e-9))}`;
            process.stderr.write(
              `\r\x1b[2Kstep ${step}${totalSteps === undefined ? "" : `/${totalSteps}`} · epoch ${epoch + 1}/${train.epochs} · loss ${result.loss.toFixed(4)} · ${rate.toFixed(1)} clips/s · wait ${waitMs.toFixed(0)} ms · step ${result.stepMs.toFixed(0)} ms${eta}`,
            );
          }
          if (step % train.checkpointEvery === 0) await save(cursor, epoch);
          if (train.steps !== undefined && step >= train.steps) info.stop();
          lastDone = performance.now();
        },
        { seed: spec.seed, epoch, maxInFlight: spec.maxInFlight, cpu, deadLetters, ...(options.signal === undefined ? {} : { signal: options.signal }) },
      ).catch((error: unknown) => {
        if (error instanceof ClipflowError && error.tag === "Cancelled") return { status: "cancelled" as const };
        throw error;
      });
      skip = 0;
      if (summary.status === "cancelled") {
        status = "cancelled";
        await save(cursor, epoch);
        break;
      }
      if (summary.status === "stopped") {
        await save(cursor, epoch);
        break;
      }
      if (lossCount > 0) await trainer.endEpoch(lossSum / lossCount);
      await save(0, epoch + 1);
    }
  } finally {
    if (showProgress) process.stderr.write("\n");
    await cpu.close();
    await trainer.close();
  }
  const elapsedMs = performance.now() - started;
  return { status, steps: step, epochs: epoch, lastLoss, checkpoint, elapsedMs, clipsPerSecond: clips / (elapsedMs / 1000), deadLetters: deadLetters.total };
}
