/**
 * A trainer replica in a worker thread, for the data-parallel step (Trainer.stepWith). The replica builds its own
 * trainer from the same spec (same seed → same initial weights), so only batches, gradients, the learning rate and a
 * momentum-contrast task's keys to enqueue cross the thread boundary (its key encoder's EMA needs nothing: the weights
 * are identical). Tasks with other per-step state (CoCLR's cycle: warm-up, second queues) are refused.
 */
import { fileURLToPath } from "node:url";
import type { PipelineSpec } from "../core/spec.ts";
import type { Batch } from "../core/types.ts";
import { ThreadClient } from "./threadClient.ts";
import type { MemoryEntry } from "./task.ts";
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

  apply(grads: Record<string, Float32Array>, lr: number, memory: MemoryEntry[]): void {
    this.client.post({ type: "apply", grads, lr, memory });
  }

  async restore(state: NamedArrays): Promise<void> {
    await this.client.request({ type: "restore", state });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
