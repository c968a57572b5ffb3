/**
 * The one worker entry: runs a named kernel on its input and moves the result's buffers back to the caller.
 */
import { move, transferableSymbol, valueSymbol } from "piscina";
import { kernels, type KernelName } from "../kernels/index.ts";
import { transferablesOf } from "../core/transfer.ts";

export interface KernelTask {
  kernel: KernelName;
  input: unknown;
}

export default function runKernel(task: KernelTask): unknown {
  const kernel = kernels[task.kernel] as ((input: unknown) => unknown) | undefined;
  if (kernel === undefined) throw new Error(`unknown kernel "${String(task.kernel)}"`);
  const output = kernel(task.input);
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
