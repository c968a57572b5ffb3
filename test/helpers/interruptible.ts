// Runs an endless pipeline on a 2-thread pool until SIGINT, then prints the run's status as JSON and exits.
import { createCpuPool } from "../../src/core/cpuPool.ts";
import { chain } from "../../src/core/pipeline.ts";
import { interruptSignal, runPipeline } from "../../src/core/runner.ts";
import { normalize } from "../../src/stages/normalize.ts";
import { randomSample, sourceOf } from "./context.ts";

const endless = () =>
  sourceOf("sample", function* () {
    for (let i = 0; ; i++) yield randomSample(`s${i}`, [8, 32, 32, 3]);
  });

const { signal, dispose } = interruptSignal(() => {});
const cpu = createCpuPool(2);
let consumed = 0;
const summary = await runPipeline(
  chain(endless(), normalize({}, { concurrency: 4 })),
  async () => {
    consumed++;
    if (consumed === 20) process.stdout.write("running\n");
    await new Promise((resolve) => setTimeout(resolve, 2));
  },
  { signal, cpu, maxInFlight: 8 },
);
await cpu.close();
dispose();
process.stdout.write(`${JSON.stringify({ status: summary.status, inFlightBound: summary.maxInFlightSeen <= 8 })}\n`);
