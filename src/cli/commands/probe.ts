/** `clipflow probe DATA`: one JSON line per video (ok, frames, fps, size, duration, codec, or the error) and a summary. */
import { createWriteStream } from "node:fs";
import { z } from "zod";
import { createCpuPool } from "../../core/cpuPool.ts";
import { chain } from "../../core/pipeline.ts";
import { interruptSignal, runPipeline } from "../../core/runner.ts";
import { defineStage } from "../../core/stage.ts";
import type { VideoRef } from "../../core/types.ts";
import type { ProbeRecord } from "../../io/probe.ts";
import { videos } from "../../stages/videos.ts";
import { intFlag, parseCommandArgs, stringFlag } from "../args.ts";
import { ClipflowError } from "../../core/errors.ts";

export const help = `clipflow probe DATA [--out index.jsonl] [--workers N]

Reads every video of DATA (a folder, a split list, a CSV/JSONL manifest or TSP annotations) and writes one JSON line per
video: {id, uri, ok, frames, fps, width, height, duration_s, codec} or {id, uri, ok: false, error, message}. Bad files
never stop the probe; the summary counts them by error.

  --out FILE     write the lines to FILE (default: stdout)
  --workers N    worker threads (default: the cores)`;

const probe = defineStage({
  name: "probe",
  in: "video",
  out: "video",
  config: z.object({}),
  create: () => ({
    kind: "map",
    map: async (video: VideoRef, ctx) => ({ ...video, meta: { probe: await ctx.cpu.run("probeVideo", video, { signal: ctx.signal }) } }),
  }),
});

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("probe", argv, { out: { type: "string" }, workers: { type: "string" } }, true);
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const data = positionals[0];
  if (data === undefined) throw new ClipflowError("ConfigError", "clipflow probe: DATA is required", { field: "DATA" });
  const out = stringFlag(values, "out");
  const sink = out === undefined ? process.stdout : createWriteStream(out);
  const cpu = createCpuPool(intFlag(values, "workers", 0, 0) || undefined);
  const { signal, dispose } = interruptSignal();
  const counts = new Map<string, number>();
  try {
    const summary = await runPipeline(
      chain(videos({ data }), probe({}, { concurrency: cpu.threads * 2, onError: "skip" })),
      (video) => {
        const record = video.meta?.probe as ProbeRecord;
        const label = record.ok ? "ok" : (record.error ?? "error");
        counts.set(label, (counts.get(label) ?? 0) + 1);
        sink.write(`${JSON.stringify(record)}\n`);
      },
      { cpu, signal, progress: out !== undefined },
    );
    const parts = [...counts.entries()].map(([label, count]) => `${label} ${count}`).join(", ");
    process.stderr.write(`probed ${summary.emitted} videos: ${parts || "none"}${summary.status === "cancelled" ? " (cancelled)" : ""}\n`);
    return summary.status === "cancelled" ? 130 : 0;
  } finally {
    dispose();
    await cpu.close();
    if (sink !== process.stdout) await new Promise<void>((resolve) => sink.end(() => resolve()));
  }
}
