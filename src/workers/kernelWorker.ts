/**
 * The one worker entry: runs a named kernel on its input and moves the result's buffers back to the caller.
 */
import { move, transferableSymbol, valueSymbol } from "piscina";
import { tasks, type TaskName } from "./tasks.ts";
import { ClipflowError, errorToRecord } from "../core/errors.ts";
import { transferablesOf } from "../core/transfer.ts";

export interface KernelTask {
  kernel: TaskName;
  input: unknown;
}

export default async function runKernel(task: KernelTask): Promise<unknown> {
  const kernel = tasks[task.kernel] as ((input: unknown) => unknown) | undefined;
  if (kernel === undefined) throw new Error(`unknown kernel "${String(task.kernel)}"`);
  let output: unknown;
  try {
    output = await kernel(task.input);
  } catch (error) {
    // typed errors travel as data: structured clone would keep only their message
    if (error instanceof ClipflowError) return { clipflowError: errorToRecord(error) };
    throw error;
  }
  const buffers = transferablesOf(output);
  if (buffers.length === 0) return output;
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return output as object;
    },
  });
}
