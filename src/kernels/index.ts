/**
 * The kernel registry: every pure function that may run in a worker, by name. Workers dispatch on these names, and
 * `ctx.cpu.run(name, input)` is typed from this table (with the I/O tasks, in src/workers/tasks.ts). Kernels take plain data (typed arrays, numbers, a seed) and
 * return plain data; they never touch rxjs, tfjs or the file system.
 */
import { clipIndices } from "./clipIndices.ts";
import { colourJitter, gaussianBlur } from "./colour.ts";
import { opticalFlow } from "./flow.ts";
import { identity } from "./identity.ts";
import { normalize } from "./normalize.ts";
import { motionAttention, prpTarget, prpViews } from "./prp.ts";
import { cropResize, rotateFrames } from "./spatial.ts";
import { segmentClips } from "./tsp.ts";
import { tca } from "./vtdl.ts";

export const kernels = {
  clipIndices,
  colourJitter,
  gaussianBlur,
  cropResize,
  identity,
  normalize,
  opticalFlow,
  prpTarget,
  motionAttention,
  prpViews,
  rotateFrames,
  segmentClips,
  tca,
};
