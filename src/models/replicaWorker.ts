/**
 * The replica thread of a data-parallel train step (src/models/replica.ts): builds the same trainer from the same
 * spec and seed (so the weights start identical), computes gradients of the batches it is sent, applies the averaged
 * gradients it receives, and loads checkpoint state. Messages are handled strictly in order.
 */
import { parentPort } from "node:worker_threads";
import * as tf from "@tensorflow/tfjs";
import { errorToRecord, toClipflowError } from "../core/errors.ts";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import type { NamedArrays, Trainer } from "./trainer.ts";

type Message =
  | { type: "init"; spec: PipelineSpec }
  | { type: "gradients"; id: number; batch: Batch }
  | { type: "apply"; grads: Record<string, Float32Array>; lr: number }
  | { type: "restore"; id: number; state: NamedArrays }
  | { type: "close" };

let trainer: Trainer | undefined;
let queue: Promise<void> = Promise.resolve();

async function handle(message: Message): Promise<void> {
  const port = parentPort!;
  if (message.type === "init") {
    const { buildTrainer } = await import("../pipelines/pretrain.ts");
    trainer = await buildTrainer(message.spec);
    port.postMessage({ type: "ready" });
    return;
  }
  if (message.type === "close") {
    trainer?.task.dispose();
    trainer?.optimizer.dispose();
    port.close();
    return;
  }
  const t = trainer!;
  if (message.type === "apply") {
    t.optimizer.lr = message.lr;
    const grads = Object.fromEntries(Object.entries(message.grads).map(([name, data]) => [name, tf.tensor(data, t.task.store.params.get(name)!.variable.shape)]));
    t.applyGradients(grads);
    return;
  }
  try {
    if (message.type === "restore") {
      t.restore(message.state);
      port.postMessage({ type: "restored", id: message.id });
      return;
    }
    const { loss, terms, grads } = t.computeGradients(message.batch);
    const arrays: Record<string, Float32Array> = {};
    for (const [name, grad] of Object.entries(grads)) arrays[name] = grad.dataSync() as Float32Array;
    tf.dispose(Object.values(grads));
    port.postMessage({ type: "gradients", id: message.id, loss, terms, grads: arrays }, Object.values(arrays).map((a) => a.buffer as ArrayBuffer));
  } catch (error) {
    port.postMessage({ type: "error", id: message.id, error: errorToRecord(toClipflowError(error, { stage: "train" })) });
  }
}

parentPort!.on("message", (message: Message) => {
  queue = queue.then(() => handle(message)).catch((error: unknown) => {
    parentPort!.postMessage({ type: "error", id: -1, error: errorToRecord(toClipflowError(error, { stage: "train" })) });
  });
});
