/**
 * Runner overhead benchmark (issue 2). Prints, measured in this run:
 *  1. per-sample overhead of an inline no-op stage (goal < 20 µs),
 *  2. per-sample cost of a worker hop carrying a 16×112×112×3 uint8 clip there and back (goal < 300 µs),
 * beside the machine's raw costs for the same clip: structuredClone (a copy) and a bare worker_threads round trip
 * with transfer (the floor any pool pays).
 * Run: npm run bench:runner   (or node --import tsx bench/runner.ts [samples])
 */
import { Worker } from "node:worker_threads";
import { z } from "zod";
import { createCpuPool } from "../src/core/cpuPool.ts";
import { chain } from "../src/core/pipeline.ts";
import { runPipeline } from "../src/core/runner.ts";
import { defineStage } from "../src/core/stage.ts";

const CLIP = 16 * 112 * 112 * 3;
const samples = Number(process.argv[2] ?? 100_000);

const counter = defineStage({
  name: "counter",
  in: "none",
  out: "sample",
  config: z.object({ n: z.int(), clip: z.boolean().default(false) }),
  create: (config) => ({
    kind: "source",
    size: config.n,
    *items() {
      for (let i = 0; i < config.n; i++) {
        yield { key: `k${i}`, videoId: "v", views: {}, targets: {}, meta: config.clip ? { data: new Uint8Array(CLIP) } : {} };
      }
    },
  }),
});
const noop = defineStage({
  name: "noop",
  in: "sample",
  out: "sample",
  config: z.object({}),
  create: () => ({ kind: "map", map: (sample) => sample }),
});
const hop = defineStage({
  name: "hop",
  in: "sample",
  out: "sample",
  config: z.object({}),
  usesCpu: true,
  create: () => ({
    kind: "map",
    map: async (sample, ctx) => {
      const moved = (await ctx.cpu.run("identity", { data: sample.meta.data as Uint8Array })) as { data: Uint8Array };
      return { ...sample, meta: { data: moved.data } };
    },
  }),
});

async function timeRun(build: () => Parameters<typeof runPipeline>[0], options: Parameters<typeof runPipeline>[2] = {}): Promise<number> {
  const start = performance.now();
  await runPipeline(build(), () => {}, { maxInFlight: 64, ...options });
  return performance.now() - start;
}

function fmt(us: number): string {
  return `${us.toFixed(2)} µs`;
}

async function rawRoundTrip(n: number): Promise<number> {
  const worker = new Worker(`const { parentPort } = require("node:worker_threads"); parentPort.on("message", (m) => parentPort.postMessage(m, [m.buffer]));`, { eval: true });
  await new Promise((resolve) => worker.once("online", resolve));
  const once = () =>
    new Promise<void>((resolve) => {
      const data = new Uint8Array(CLIP);
      worker.once("message", () => resolve());
      worker.postMessage(data, [data.buffer]);
    });
  for (let i = 0; i < 200; i++) await once();
  const start = performance.now();
  for (let i = 0; i < n; i++) await once();
  const elapsed = performance.now() - start;
  await worker.terminate();
  return (elapsed * 1000) / n;
}

async function main(): Promise<void> {
  // 1. inline no-op stage: (source → noop) minus (source alone), per sample
  await timeRun(() => chain(counter({ n: 20_000 }), noop()));
  const bare = Math.min(await timeRun(() => chain(counter({ n: samples }))), await timeRun(() => chain(counter({ n: samples }))));
  const withNoop = Math.min(
    await timeRun(() => chain(counter({ n: samples }), noop())),
    await timeRun(() => chain(counter({ n: samples }), noop())),
  );
  const noopUs = ((withNoop - bare) * 1000) / samples;
  const runnerUs = (bare * 1000) / samples;

  // 2. worker hop with a clip, 1 thread (latency) and 2 threads (throughput)
  const hops = Math.min(5000, samples);
  const allocOnly = await timeRun(() => chain(counter({ n: hops, clip: true })));
  const results: [string, number][] = [];
  for (const threads of [1, 2]) {
    const cpu = createCpuPool(threads);
    await timeRun(() => chain(counter({ n: 200, clip: true }), hop({}, { concurrency: threads })), { cpu });
    const elapsed = await timeRun(() => chain(counter({ n: hops, clip: true }), hop({}, { concurrency: threads * 2 })), { cpu });
    await cpu.close();
    results.push([`${threads} thread${threads > 1 ? "s" : ""}`, ((elapsed - allocOnly) * 1000) / hops]);
  }

  // references measured now
  const clip = new Uint8Array(CLIP);
  for (let i = 0; i < 50; i++) structuredClone(clip);
  const cloneStart = performance.now();
  for (let i = 0; i < 1000; i++) structuredClone(clip);
  const cloneUs = (performance.now() - cloneStart);
  const rawUs = await rawRoundTrip(2000);

  console.log(`clipflow runner overhead (${samples} samples; clip ${CLIP} bytes)`);
  console.log(`  runner per sample (source → sink, permits, ordering): ${fmt(runnerUs)}`);
  console.log(`  inline no-op stage per sample: ${fmt(noopUs)}   goal < 20 µs → ratio ${(noopUs / 20).toFixed(3)} of the limit`);
  for (const [label, us] of results) {
    console.log(`  worker hop with clip, ${label}: ${fmt(us)} per sample   goal < 300 µs → ${(us / 300).toFixed(3)} of the limit; ${(us / rawUs).toFixed(2)}× a raw round trip`);
  }
  console.log(`  reference: structuredClone of the clip ${fmt(cloneUs)}; raw worker_threads round trip with transfer ${fmt(rawUs)}`);
}

await main();
