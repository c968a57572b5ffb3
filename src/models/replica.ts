/**
 * A trainer replica in a worker thread, for the data-parallel step (Trainer.stepWith). The replica builds its own
 * trainer from the same spec (same seed → same initial weights), so only batches, gradients and the learning rate
 * cross the thread boundary. Tasks with after-step state (queues, momentum encoders) are refused: their state would
 * diverge between replicas.
 */
import { fileURLToPath } from "node:url";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { ThreadClient } from "./threadClient.ts";
import type { GradientReplica, NamedArrays, ReplicaGradients } from "./trainer.ts";

const entry = fileURLToPath(new URL("../workers/replicaBootstrap.mjs", import.meta.url));

export class ThreadReplica implements GradientReplica {
  private constructor(private readonly client: ThreadClient) {}

  static async start(spec: PipelineSpec): Promise<ThreadReplica> {
    return new ThreadReplica(await ThreadClient.start(entry, { spec }, "trainer replica"));
  }

  gradients(batch: Batch): Promise<ReplicaGradients> {
    // copied, not moved: the half batch is a view into the buffers the calling thread still trains on
    return this.client.request<ReplicaGradients>({ type: "gradients", batch });
  }

  apply(grads: Record<string, Float32Array>, lr: number): void {
    this.client.post({ type: "apply", grads, lr });
  }

  async restore(state: NamedArrays): Promise<void> {
    await this.client.request({ type: "restore", state });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
