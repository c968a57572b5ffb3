/**
 * Everything a worker can run, by name: the pure kernels plus the I/O tasks that must run next to them (decoding
 * with in-process libav, one decoder thread per worker). `ctx.cpu.run(name, input)` is typed from this table.
 */
import { decodeClips, decodeDilated, decodeTriplet } from "../io/decodeClips.ts";
import { kernels } from "../kernels/index.ts";
import { probeVideo } from "../io/probe.ts";

export const tasks = {
  ...kernels,
  decodeClips,
  decodeDilated,
  decodeTriplet,
  probeVideo,
};

export type Tasks = typeof tasks;
export type TaskName = keyof Tasks;
export type TaskInput<K extends TaskName> = Parameters<Tasks[K]>[0];
export type TaskOutput<K extends TaskName> = ReturnType<Tasks[K]>;
