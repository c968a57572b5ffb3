/**
 * The replica thread of a data-parallel train step (src/models/replica.ts): builds the same trainer from the same
 * spec and seed (so the weights start identical), computes gradients of the batches it is sent, applies the averaged
 * gradients it receives, and loads checkpoint state. Messages are handled strictly in order.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { serveThread } from "./threadClient.ts";
import type { MemoryEntry } from "./task.ts";
import type { NamedArrays, Trainer } from "./trainer.ts";

serveThread<Trainer>(
  parentPort!,
  {
    init: async (message) => {
      const { buildTrainer } = await import("./trainerHandle.ts");
      // a replica is the second of two trainers: half the cores are its
      return buildTrainer(message.spec as PipelineSpec, undefined, undefined, 2);
    },
    close: (trainer) => {
      trainer.task.dispose();
      trainer.optimizer.dispose();
    },
    handle: (trainer, message) => {
      if (message.type === "apply") {
        trainer.optimizer.lr = message.lr as number;
        trainer.task.adoptMemory?.((message.memory as MemoryEntry[] | undefined) ?? [], []);
        const grads = Object.fromEntries(Object.entries(message.grads as Record<string, Float32Array>).map(([name, data]) => [name, tf.tensor(data, trainer.task.store.params.get(name)!.variable.shape)]));
        trainer.applyGradients(grads);
        return undefined;
      }
      if (message.type === "restore") {
        trainer.restore(message.state as NamedArrays);
        return undefined;
      }
      const { loss, terms, grads } = trainer.computeGradients(message.batch as Batch);
      const arrays: Record<string, Float32Array> = {};
      for (const [name, grad] of Object.entries(grads)) arrays[name] = grad.dataSync() as Float32Array;
      tf.dispose(Object.values(grads));
      return { loss, terms, grads: arrays, memory: trainer.task.pendingMemory?.() };
    },
    transferOf: (value) => (value === undefined ? [] : Object.values((value as { grads: Record<string, Float32Array> }).grads).map((a) => a.buffer as ArrayBuffer)),
  },
);
