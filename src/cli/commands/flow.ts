/** `clipflow flow`: precompute optical flow for a dataset into the flow cache, in the worker pool, resumable. */
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { createCpuPool } from "../../core/cpuPool.ts";
import { DeadLetterSink } from "../../core/deadLetter.ts";
import { ClipflowError } from "../../core/errors.ts";
import { formatDuration, JsonlWriter } from "../../core/metrics.ts";
import { chain } from "../../core/pipeline.ts";
import { interruptSignal, runPipeline } from "../../core/runner.ts";
import { flowCacheKey, readFlowMeta, type FlowMeta } from "../../io/flowStore.ts";
import { cacheParams, flowCache, type FlowCacheConfig } from "../../stages/flowCache.ts";
import { videos } from "../../stages/videos.ts";
import { intFlag, numberFlag, optionalIntFlag, parseCommandArgs, requireFlag, stringFlag } from "../args.ts";

export const help = `clipflow flow --data DATA --out DIR [--method tvl1|fast] [--size S] [--format jpeg|png|raw] [--resume]

Computes the optical flow of every video of DATA (frame t → t+1 on grayscale, at short side S) and stores it as CoCLR
does: u, v clipped to ±20 px and quantised to uint8, 3-channel images with a constant 128 channel. Entries go to
DIR/<method>-s<S>-<hash of the parameters>/<video>/ with a meta.json written last; finished entries are kept, so an
interrupted run continues where it stopped (--resume is the default and may be given explicitly). Bad videos are
listed in DIR/<key>/dead-letter.jsonl and the run goes on; each video's timing goes to DIR/<key>/flow-log.jsonl.

  --method M     tvl1 (OpenCV's DualTVL1 defaults, the reference; slow) or fast (Farnebäck)  (default tvl1)
  --size S       short side of the frames the flow is computed on (default 256, as the reference's resized videos)
  --format F     jpeg (the reference's files, quality 100) | png (lossless) | raw (one uint8 file per video)
  --bound B      clip magnitude before quantisation (default 20)
  --workers N    worker threads (default: the cores)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("flow", argv, {
    data: { type: "string" },
    out: { type: "string" },
    method: { type: "string" },
    size: { type: "string" },
    format: { type: "string" },
    bound: { type: "string" },
    workers: { type: "string" },
    resume: { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const data = requireFlag(values, "data", "flow");
  const root = requireFlag(values, "out", "flow");
  const method = stringFlag(values, "method") ?? "tvl1";
  if (method !== "tvl1" && method !== "fast") throw new ClipflowError("ConfigError", `--method must be tvl1 or fast, got "${method}"`, { field: "--method" });
  // the stage validates the settings (errors name the field); its parsed config names the cache folder
  const workers = intFlag(values, "workers", 0, 0) || availableParallelism();
  const stage = flowCache(
    { root, method: method === "fast" ? "farneback" : "tvl1", shortSide: optionalIntFlag(values, "size", 8), format: stringFlag(values, "format") as FlowCacheConfig["format"] | undefined, bound: numberFlag(values, "bound") },
    { concurrency: workers, onError: "skip", ordered: false },
  );
  const config = stage.config as FlowCacheConfig;
  const dir = join(root, flowCacheKey(cacheParams(config)));
  mkdirSync(dir, { recursive: true });
  const cpu = createCpuPool(workers);
  const deadLetters = new DeadLetterSink(join(dir, "dead-letter.jsonl"));
  const log = new JsonlWriter(join(dir, "flow-log.jsonl"));
  const { signal, dispose } = interruptSignal();
  const started = performance.now();
  const startedAt = Date.now();
  let computed = 0;
  let cached = 0;
  let pairs = 0;
  let busyMs = 0;
  try {
    const summary = await runPipeline(
      chain(videos({ data }), stage),
      async (video) => {
        const entry = video.meta?.flow as string;
        const meta = (await readFlowMeta(entry)) as FlowMeta;
        const fresh = meta.createdAt !== undefined && Date.parse(meta.createdAt) >= startedAt;
        if (fresh) {
          computed += 1;
          pairs += meta.frames - 1;
          busyMs += meta.computeMs ?? 0;
        } else cached += 1;
        log.write({ id: video.id, uri: video.uri, frames: meta.frames, cached: !fresh, ms: meta.computeMs, dir: entry });
      },
      { cpu, signal, deadLetters, progress: { jsonl: join(dir, "progress.jsonl") } },
    );
    const seconds = (performance.now() - started) / 1000;
    const rate = busyMs > 0 ? ` (${((pairs * 1000) / busyMs).toFixed(1)} pairs/s per worker, ${(pairs / seconds).toFixed(1)} pairs/s overall)` : "";
    process.stdout.write(
      `flow (${config.method}, short side ${config.shortSide}, ${config.format}) → ${dir}\n` +
        `  ${computed} computed, ${cached} already cached, ${summary.deadLetters} failed (${deadLetters.summary()}) in ${formatDuration(seconds)}${rate}\n`,
    );
    if (summary.status === "cancelled") {
      process.stdout.write("  interrupted: run the same command again to continue\n");
      return 130;
    }
    return 0;
  } finally {
    dispose();
    await cpu.close();
  }
}
