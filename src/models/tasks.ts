/** Builds the task (network + loss) a `train.task` config names. New pretexts add a case here and a config schema. */
import type { Rng } from "../core/rng.ts";
import type { TaskConfig } from "./config.ts";
import { createPrpTask } from "./prp.ts";
import { createVtdlTask } from "./vtdl.ts";
import type { Task } from "./task.ts";

export function createTask(config: TaskConfig, rng: Rng): Task {
  switch (config.kind) {
    case "prp":
      return createPrpTask(config, rng);
    case "vtdl":
      return createVtdlTask(config, rng);
  }
}
