/**
 * A trainer replica in a worker thread, for the data-parallel step (Trainer.stepWith). The replica builds its own
 * trainer from the same spec (same seed → same initial weights), so only batches, gradients and the learning rate
 * cross the thread boundary. Tasks with after-step state (queues, momentum encoders) are refused: their state would
 * diverge between replicas.
 */
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { ClipflowError, errorFromRecord, type ErrorRecord } from "../core/errors.ts";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import type { GradientReplica, NamedArrays, ReplicaGradients } from "./trainer.ts";

const entry = fileURLToPath(new URL("../workers/replicaBootstrap.mjs", import.meta.url));

type Reply =
  | { type: "ready" }
  | ({ type: "gradients"; id: number } & ReplicaGradients)
  | { type: "restored"; id: number }
  | { type: "error"; id: number; error: ErrorRecord };

export class ThreadReplica implements GradientReplica {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  private next = 0;
  private failure: ClipflowError | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on("message", (reply: Reply) => {
      if (reply.type === "ready") return;
      if (reply.type === "error") {
        const error = errorFromRecord(reply.error);
        if (reply.id < 0) this.fail(error);
        else this.settle(reply.id, undefined, error);
        return;
      }
      this.settle(reply.id, reply);
    });
    worker.on("error", (error) => this.fail(new ClipflowError("StageError", `trainer replica failed: ${error.message}`, { stage: "train", cause: error })));
    worker.on("exit", (code) => {
      if (code !== 0) this.fail(new ClipflowError("StageError", `trainer replica exited with code ${code}`, { stage: "train" }));
    });
  }

  static async start(spec: PipelineSpec): Promise<ThreadReplica> {
    const worker = new Worker(entry);
    const replica = new ThreadReplica(worker);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        if (reply.type === "ready") {
          worker.off("message", onMessage);
          resolve();
        } else if (reply.type === "error") reject(errorFromRecord(reply.error));
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      worker.postMessage({ type: "init", spec });
    });
    return replica;
  }

  private fail(error: ClipflowError): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  private settle(id: number, value: unknown, error?: unknown): void {
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    if (error !== undefined) waiter?.reject(error);
    else waiter?.resolve(value);
  }

  private request<T>(message: Record<string, unknown>): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...message, id });
    });
  }

  gradients(batch: Batch): Promise<ReplicaGradients> {
    return this.request<ReplicaGradients>({ type: "gradients", batch });
  }

  apply(grads: Record<string, Float32Array>, lr: number): void {
    this.worker.postMessage({ type: "apply", grads, lr });
  }

  async restore(state: NamedArrays): Promise<void> {
    await this.request({ type: "restore", state });
  }

  async close(): Promise<void> {
    this.worker.postMessage({ type: "close" });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5_000);
      this.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
