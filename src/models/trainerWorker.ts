/**
 * The trainer thread (src/models/trainerHandle.ts, `threadTrainer`): builds the spec's trainer here (and its replica
 * thread, if any) and runs what the pretraining loop asks, strictly in order; batches arrive moved, not copied, and
 * checkpoint states leave the same way.
 */
import { parentPort } from "node:worker_threads";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { serveThread } from "./threadClient.ts";
import type { NamedArrays } from "./trainer.ts";
import { localTrainer, stateTransferables, type StepPosition, type TrainerHandle } from "./trainerHandle.ts";

serveThread<TrainerHandle>(
  parentPort!,
  {
    init: (message, log) => localTrainer(message.spec as PipelineSpec, log),
    close: (trainer) => trainer.close(),
    handle: (trainer, message) => {
      switch (message.type) {
        case "prepare":
          return trainer.prepare(message.resume as boolean);
        case "restore":
          return trainer.restore(message.state as NamedArrays);
        case "beginEpoch":
          return trainer.beginEpoch(message.epoch as number);
        case "step":
          return trainer.step(message.batch as Batch, message.at as StepPosition);
        case "endEpoch":
          return trainer.endEpoch(message.meanLoss as number);
        case "snapshot":
          return trainer.snapshot();
        default:
          throw new Error(`trainer thread: unknown message ${String(message.type)}`);
      }
    },
    transferOf: (value) => (value !== null && typeof value === "object" && (value as NamedArrays).tensors instanceof Map ? stateTransferables(value as NamedArrays) : []),
  },
);
