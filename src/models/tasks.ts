/**
 * Builds the task (network + loss) a `train.task` config names. Built-in pretexts add a case here and a config schema;
 * a pretext written in code passes its own factory to `pretrain({ task })` instead.
 */
export type TaskFactory = (rng: Rng) => Task;
import { ClipflowError } from "../core/errors.ts";
import type { Rng } from "../core/rng.ts";
import type { TaskConfig } from "./config.ts";
import { createCoclrTask } from "./coclr.ts";
import { createPrpTask } from "./prp.ts";
import { createTspTask } from "./tsp.ts";
import { createInfonceTask, createVtdlTask } from "./vtdl.ts";
import type { Task } from "./task.ts";

export function createTask(config: TaskConfig, rng: Rng): Task {
  switch (config.kind) {
    case "prp":
      return createPrpTask(config, rng);
    case "vtdl":
      return createVtdlTask(config, rng);
    case "infonce":
      return createInfonceTask(config, rng);
    case "coclr":
      return createCoclrTask(config, rng);
    case "tsp":
      return createTspTask(config, rng);
    case "custom":
      throw new ClipflowError("ConfigError", `task "${config.name}" is written in code: pass it to pretrain({ task })`, { field: "train.task" });
  }
}
