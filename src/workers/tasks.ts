/**
 * Everything a worker can run, by name: the pure kernels plus the I/O tasks that must run next to them (decoding
 * with in-process libav, one decoder thread per worker). `ctx.cpu.run(name, input)` is typed from this table.
 * The I/O modules (node-av's native addon) load on a worker's first I/O task, not at worker start: a pool closed
 * while a worker was still registering the addon aborted the process (napi FATAL ERROR), and workers that only run
 * kernels never need it.
 */
import type * as DecodeClips from "../io/decodeClips.ts";
import type * as FlowClips from "../io/flowClips.ts";
import type * as Probe from "../io/probe.ts";
import { kernels } from "../kernels/index.ts";

let decoding: Promise<typeof DecodeClips> | undefined;
let probing: Promise<typeof Probe> | undefined;
let flowing: Promise<typeof FlowClips> | undefined;
const decodeModule = () => (decoding ??= import("../io/decodeClips.ts"));
const probeModule = () => (probing ??= import("../io/probe.ts"));
const flowModule = () => (flowing ??= import("../io/flowClips.ts"));

export const tasks = {
  ...kernels,
  decodeClips: async (input: Parameters<typeof DecodeClips.decodeClips>[0]) => (await decodeModule()).decodeClips(input),
  /** PRP's whole sample in one hop: the frames of the span its views read, then the views (`prpViews`). */
  prpSample: async (input: Parameters<typeof DecodeClips.decodeDilated>[0] & { pool: { patch?: number | undefined; poolStride?: number | undefined }; clip: boolean }) => {
    const { dense, plan, info } = (await decodeModule()).decodeDilated(input);
    const offsets = plan.read.map((i) => i - plan.start);
    const views = kernels.prpViews({ ...input.pool, mode: input.plan.motion ?? "dpau", dense: dense.data, shape: dense.shape, offsets, rate: plan.rate, clip: input.clip });
    return { plan, info, views };
  },
  decodeTriplet: async (input: Parameters<typeof DecodeClips.decodeTriplet>[0]) => (await decodeModule()).decodeTriplet(input),
  extractFlow: async (input: Parameters<typeof FlowClips.extractFlow>[0]) => (await flowModule()).extractFlow(input),
  decodeFlowPair: async (input: Parameters<typeof FlowClips.decodeFlowPair>[0]) => (await flowModule()).decodeFlowPair(input),
  probeVideo: async (input: Parameters<typeof Probe.probeVideo>[0]) => (await probeModule()).probeVideo(input),
};

export type Tasks = typeof tasks;
export type TaskName = keyof Tasks;
export type TaskInput<K extends TaskName> = Parameters<Tasks[K]>[0];
export type TaskOutput<K extends TaskName> = Awaited<ReturnType<Tasks[K]>>;
