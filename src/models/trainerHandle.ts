/**
 * What the pretraining loop asks of its trainer, wherever the trainer runs: on the calling thread, or on a thread of
 * its own (`threadTrainer`). A train step on wasm is synchronous and takes hundreds of milliseconds; on the main
 * thread it blocks the event loop, so the data pipeline (whose worker tasks are dispatched from that loop) stalls for
 * the whole step and the next batch is only started once the step ends. With the trainer on its own thread the main
 * thread keeps the pipeline running during the step: batches are prepared while the model trains.
 * The schedule lives with the trainer: the loop says where it is (epoch, batch of the epoch) and the trainer sets the
 * learning rate (epoch schedules, the linear warm-up per step, ReduceLROnPlateau at the end of an epoch).
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import type { PipelineSpec } from "../core/spec.ts";
import { transferablesOf } from "../core/transfer.ts";
import type { Batch } from "../core/types.ts";
import { ClipflowError } from "../core/errors.ts";
import { rngFor } from "../core/rng.ts";
import { selectBackend } from "./backend.ts";
import { replicable, replicasOf, trainSection, type TrainSection } from "./config.ts";
import { Optimizer, Schedule } from "./optim.ts";
import { ThreadReplica } from "./replica.ts";
import { createTask, type TaskFactory } from "./tasks.ts";
import { ThreadClient } from "./threadClient.ts";
import { Trainer, type NamedArrays, type StepResult } from "./trainer.ts";

export function trainOf(spec: PipelineSpec): TrainSection {
  if (spec.train === undefined) throw new ClipflowError("SpecError", "a pretraining spec needs a `train` section (task, optimizer, schedule, epochs)", { field: "train" });
  return trainSection.parse(spec.train);
}

/**
 * Builds the network, optimiser and schedule of a spec (random initialisation from the spec's seed); `replicas`: how
 * many trainers share the cores (each gets its share of ONNX Runtime's threads).
 */
export async function buildTrainer(spec: PipelineSpec, log?: (line: string) => void, factory?: TaskFactory, replicas = 1): Promise<Trainer> {
  const train = trainOf(spec);
  const threads = Math.max(1, Math.floor(availableParallelism() / replicas));
  await selectBackend(train.backend, log, { convolutions: train.convolutions, threads });
  const rng = rngFor(spec.seed, 0, "model", "init");
  const task = factory === undefined ? createTask(train.task, rng) : factory(rng);
  const optimizer = new Optimizer(train.optimizer, task.store);
  return new Trainer(task, optimizer, new Schedule(train.schedule, train.optimizer.lr), train.microBatch ?? Infinity);
}

/** The replicas a spec's step runs as; a task written in code (`factory`) runs as one unless told otherwise. */
function replicaCount(train: TrainSection, factory: TaskFactory | undefined): number {
  return factory !== undefined && train.replicas === "auto" ? 1 : replicasOf(train, availableParallelism());
}

/** Where a step falls: its epoch, its batch within the epoch (0-based), and the epoch's length when known. */
export interface StepPosition {
  epoch: number;
  batch: number;
  perEpoch: number | undefined;
}

export interface TrainerHandle {
  /** Runs the task's preparation (CoCLR cycles load their frozen sampler); `resume`: a checkpoint will be restored. */
  prepare(resume: boolean): Promise<void>;
  restore(state: NamedArrays): Promise<void>;
  /** Sets the learning rate of an epoch's start. */
  beginEpoch(epoch: number): Promise<void>;
  step(batch: Batch, at: StepPosition): Promise<StepResult>;
  /** Gives a plateau schedule the epoch's mean loss. */
  endEpoch(meanLoss: number): Promise<void>;
  snapshot(): Promise<NamedArrays>;
  close(): Promise<void>;
}

/** The trainer of a spec on this thread (plus its replica thread with `train.replicas: 2`). */
export async function localTrainer(spec: PipelineSpec, log?: (line: string) => void, factory?: TaskFactory): Promise<TrainerHandle> {
  const train = trainOf(spec);
  const replicas = replicaCount(train, factory);
  const trainer = await buildTrainer(spec, log, factory, replicas);
  if (train.replicas === "auto") {
    const why = factory !== undefined ? "a task written in code" : availableParallelism() < 2 ? "one core" : replicas > 1 ? `${availableParallelism()} cores` : `${train.task.kind} keeps state replicas cannot share`;
    log?.(`train.replicas auto: ${replicas} (${why})`);
  }
  let replica: ThreadReplica | undefined;
  try {
    if (replicas > 1) {
      if (factory !== undefined || !replicable(train.task.kind)) {
        throw new ClipflowError("ConfigError", `train.replicas: ${train.task.kind} keeps per-step state replicas cannot share (or is written in code); run it with one replica`, { field: "train.replicas" });
      }
      replica = await ThreadReplica.start(spec);
    }
  } catch (error) {
    trainer.task.dispose();
    trainer.optimizer.dispose();
    throw error;
  }
  const { schedule, optimizer } = trainer;
  return {
    prepare: async (resume) => trainer.task.prepare?.(resume),
    restore: async (state) => {
      trainer.restore(state);
      await replica?.restore(state);
    },
    beginEpoch: async (epoch) => {
      optimizer.lr = schedule.lrAt(epoch, optimizer.lr);
    },
    step: async (batch, at) => {
      // Linear warm-up moves the learning rate every step, not only at epoch boundaries (with an unknown epoch
      // length it steps once per epoch instead).
      if (train.schedule.kind === "multiStep" && at.epoch < train.schedule.warmup) {
        optimizer.lr = at.perEpoch === undefined ? schedule.lrAt(at.epoch, optimizer.lr) : schedule.lrAt(at.epoch, optimizer.lr, at.batch, at.perEpoch);
      }
      return replica === undefined ? trainer.step(batch) : trainer.stepWith(replica, batch);
    },
    endEpoch: async (meanLoss) => {
      optimizer.lr = schedule.observe(meanLoss, optimizer.lr);
    },
    snapshot: async () => trainer.snapshot(),
    close: async () => {
      await replica?.close();
      trainer.task.dispose();
      trainer.optimizer.dispose();
    },
  };
}

const entry = fileURLToPath(new URL("../workers/trainerBootstrap.mjs", import.meta.url));

/** The buffers of a checkpoint state, moved rather than copied across threads. */
export function stateTransferables(state: NamedArrays): ArrayBuffer[] {
  return transferablesOf([...state.tensors.values()].map((t) => t.data));
}

/** The trainer of a spec on a thread of its own (see the module comment); its log lines come back to `log`. */
export async function threadTrainer(spec: PipelineSpec, log: (line: string) => void): Promise<TrainerHandle> {
  const client = await ThreadClient.start(entry, { spec }, "trainer thread", log);
  return {
    prepare: (resume) => client.request({ type: "prepare", resume }),
    restore: (state) => client.request({ type: "restore", state }),
    beginEpoch: (epoch) => client.request({ type: "beginEpoch", epoch }),
    step: (batch, at) => client.request<StepResult>({ type: "step", batch, at }, transferablesOf(batch)),
    endEpoch: (meanLoss) => client.request({ type: "endEpoch", meanLoss }),
    snapshot: () => client.request<NamedArrays>({ type: "snapshot" }),
    close: () => client.close(),
  };
}
