import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { createCpuPool } from "../../src/core/cpuPool.ts";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { chain } from "../../src/core/pipeline.ts";
import { formatSummary, runPipeline } from "../../src/core/runner.ts";
import { defineStage } from "../../src/core/stage.ts";
import type { Batch, Sample, VideoRef } from "../../src/core/types.ts";
import { batch, listSource, normalize, shuffle } from "../../src/stages/index.ts";
import { sourceOf } from "../helpers/context.ts";
import { tempDir } from "../helpers/tempDir.ts";

const videos = (n: number): VideoRef[] => Array.from({ length: n }, (_, i) => ({ id: `v${i}`, uri: `/data/v${i}.mp4`, label: i % 4 }));

/** Makes a sample whose pixels come from the stage's seeded rng: outputs depend on (seed, epoch, stage, key) only. */
const randomClip = defineStage({
  name: "randomClip",
  in: "video",
  out: "sample",
  config: z.object({ frames: z.int().default(2), size: z.int().default(4), maxDelayMs: z.number().default(0) }),
  create: (config) => ({
    kind: "map",
    map: async (video: VideoRef, ctx): Promise<Sample> => {
      // random scheduling noise that must not change results (deliberately not from the seeded rng)
      if (config.maxDelayMs > 0) await sleep(Math.floor(Math.random() * config.maxDelayMs));
      const data = new Uint8Array(config.frames * config.size * config.size * 3);
      for (let i = 0; i < data.length; i++) data[i] = ctx.rng.int(0, 255);
      return {
        key: video.id,
        videoId: video.id,
        uri: video.uri,
        views: { rgb: { data, shape: [config.frames, config.size, config.size, 3], layout: "THWC", videoId: video.id, indices: [0, 1] } },
        targets: { label: video.label ?? 0, crop: ctx.rng.uniform(0, 1) },
        meta: {},
      };
    },
  }),
});

test("backpressure: 100,000 × 1 MB source, 5 ms sink, stopped after 2,000: bounded pulls, live samples and RSS", async () => {
  const maxInFlight = 16;
  let created = 0;
  let consumed = 0;
  let maxLive = 0;
  let worstLead = 0;
  const source = sourceOf(
    "sample",
    function* () {
      for (let i = 0; i < 100_000; i++) {
        created++;
        maxLive = Math.max(maxLive, created - consumed);
        const data = new Uint8Array(1 << 20);
        data[0] = i & 255;
        yield {
          key: `s${i}`,
          videoId: `s${i}`,
          views: { rgb: { data, shape: [1, 1024, 1024, 1], layout: "THWC", videoId: `s${i}`, indices: [0] } },
          targets: {},
          meta: {},
        } satisfies Sample;
      }
    },
    100_000,
  );
  const passThrough = defineStage({
    name: "touch",
    in: "sample",
    out: "sample",
    config: z.object({}),
    create: () => ({ kind: "map", map: async (sample: Sample) => sample }),
  });
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const summary = await runPipeline(
    chain(source, passThrough({}, { concurrency: 4 }), shuffle<Sample>({ buffer: 4 })),
    async (_sample, info) => {
      await sleep(5);
      consumed++;
      worstLead = Math.max(worstLead, created - consumed);
      if (consumed % 100 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      if (consumed === 2000) info.stop();
    },
    { maxInFlight },
  );
  assert.equal(summary.status, "stopped");
  assert.equal(summary.emitted, 2000);
  assert.ok(created <= 2000 + maxInFlight, `source pulled ${created} for 2000 consumed`);
  assert.ok(maxLive <= maxInFlight, `live samples peaked at ${maxLive}`);
  assert.ok(worstLead <= maxInFlight, `source ran ${worstLead} ahead of the sink`);
  assert.ok(summary.maxInFlightSeen <= maxInFlight);
  const growthMb = (rssPeak - rssBefore) / 2 ** 20;
  assert.ok(growthMb < 300, `RSS grew ${growthMb.toFixed(0)} MB`);
});

test("maxInFlight must exceed what stages hold (else the pipeline would deadlock)", async () => {
  await assert.rejects(
    runPipeline(chain(listSource({ items: videos(4) }), shuffle<VideoRef>({ buffer: 10 }), randomClip(), batch({ size: 8 })), () => {}, {
      maxInFlight: 16,
    }),
    (error: unknown) =>
      error instanceof ClipflowError &&
      error.field === "maxInFlight" &&
      error.message === "maxInFlight (16) must exceed the items stages hold at once (shuffle 10 + batch 8 = 18); raise it or hold fewer",
  );
});

/** Fails for keys in `bad` (on every attempt) and counts attempts per key. */
function flaky(bad: Set<string>, attempts: Map<string, number>, healAfter = Infinity) {
  return defineStage({
    name: "flaky",
    in: "video",
    out: "video",
    config: z.object({}),
    create: () => ({
      kind: "map",
      map: async (video: VideoRef, ctx) => {
        attempts.set(video.id, (attempts.get(video.id) ?? 0) + 1);
        if (bad.has(video.id) && ctx.attempt < healAfter) {
          throw new ClipflowError("CorruptFile", `invalid data found when processing input`);
        }
        return video;
      },
    }),
  });
}

test("error policy fail: the run rejects with a typed error naming stage, key and file", async () => {
  const attempts = new Map<string, number>();
  await assert.rejects(
    runPipeline(chain(listSource({ items: videos(5) }), flaky(new Set(["v2"]), attempts)()), () => {}),
    (error: unknown) =>
      error instanceof ClipflowError &&
      error.describe() === "CorruptFile [stage flaky | key v2 | file /data/v2.mp4]: invalid data found when processing input",
  );
});

test("error policy skip: the run goes on, the dead letter names the file, counts show in the summary", async () => {
  const dir = tempDir("clipflow-dl-");
  const deadLetters = new DeadLetterSink(join(dir, "dead-letter.jsonl"));
  const seen: string[] = [];
  const summary = await runPipeline(
    chain(listSource({ items: videos(6) }), flaky(new Set(["v1", "v4"]), new Map())({}, { onError: "skip" })),
    (video) => {
      seen.push(video.id);
    },
    { deadLetters },
  );
  assert.deepEqual(seen, ["v0", "v2", "v3", "v5"]);
  assert.equal(summary.status, "completed");
  assert.equal(summary.deadLetters, 2);
  assert.equal(summary.deadLetterSummary, "flaky:CorruptFile ×2");
  const lines = readFileSync(join(dir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    lines.map(({ time: _time, ...rest }) => rest),
    ["v1", "v4"].map((id) => ({
      key: id,
      uri: `/data/${id}.mp4`,
      stage: "flaky",
      error: "CorruptFile",
      message: "invalid data found when processing input",
      attempts: 1,
    })),
  );
  const stageMetrics = (summary.metrics.stages as { stage: string; skipped: number; errors: number }[]).find((s) => s.stage === "flaky");
  assert.equal(stageMetrics?.skipped, 2);
  assert.match(formatSummary(summary), /^completed: 6 read, 4 out in [\d.]+s \([\d.]+\/s\) · dead letters: 2 \(flaky:CorruptFile ×2\)$/);
});

test("error policy retry(n): exactly n retries, then the fallback; a sample that heals on retry goes through", async () => {
  const attempts = new Map<string, number>();
  const deadLetters = new DeadLetterSink();
  const seen: string[] = [];
  await runPipeline(
    chain(listSource({ items: videos(3) }), flaky(new Set(["v1"]), attempts)({}, { onError: { retry: 3 } })),
    (video) => {
      seen.push(video.id);
    },
    { deadLetters },
  );
  assert.equal(attempts.get("v1"), 4); // 1 try + 3 retries
  assert.equal(attempts.get("v0"), 1);
  assert.deepEqual(seen, ["v0", "v2"]);
  assert.equal(deadLetters.records[0]?.attempts, 4);

  const healing = new Map<string, number>();
  const healed: string[] = [];
  await runPipeline(
    chain(listSource({ items: videos(3) }), flaky(new Set(["v1"]), healing, 2)({}, { onError: { retry: 5, then: "fail" } })),
    (video) => {
      healed.push(video.id);
    },
  );
  assert.equal(healing.get("v1"), 3);
  assert.deepEqual(healed, ["v0", "v1", "v2"]);

  const failing = new Map<string, number>();
  await assert.rejects(
    runPipeline(chain(listSource({ items: videos(2) }), flaky(new Set(["v0"]), failing)({}, { onError: { retry: 2, then: "fail" } })), () => {}),
    /invalid data/,
  );
  assert.equal(failing.get("v0"), 3);
});

test("timeout: a task that hangs fails with a Timeout error and the policy applies", async () => {
  const hang = defineStage({
    name: "hang",
    in: "video",
    out: "video",
    config: z.object({}),
    create: () => ({
      kind: "map",
      map: (video: VideoRef, ctx) =>
        video.id === "v1"
          ? new Promise<VideoRef>((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)))
          : video,
    }),
  });
  const deadLetters = new DeadLetterSink();
  const seen: string[] = [];
  await runPipeline(chain(listSource({ items: videos(3) }), hang({}, { timeoutMs: 50, onError: "skip" })), (v) => {
    seen.push(v.id);
  }, { deadLetters });
  assert.deepEqual(seen, ["v0", "v2"]);
  assert.equal(deadLetters.records[0]?.error, "Timeout");
  assert.equal(deadLetters.records[0]?.message, "no result after 50 ms");
});

async function collect(workers: number, maxDelayMs: number, seed: number): Promise<{ keys: string[]; bytes: number[]; targets: number[] }> {
  const cpu = createCpuPool(workers);
  try {
    const out = { keys: [] as string[], bytes: [] as number[], targets: [] as number[] };
    await runPipeline(
      chain(
        listSource({ items: videos(12) }),
        shuffle<VideoRef>({ buffer: 4 }),
        randomClip({ maxDelayMs }, { concurrency: 4 }),
        normalize({}, { concurrency: 3 }),
        batch({ size: 3 }),
      ),
      (b: Batch) => {
        out.keys.push(...b.keys);
        out.bytes.push(...new Uint8Array((b.views.rgb?.data as Float32Array).buffer));
        out.targets.push(...(b.targets.crop?.data ?? []));
      },
      { seed, cpu, maxInFlight: 12 },
    );
    return out;
  } finally {
    await cpu.close();
  }
}

test("determinism: same seed, same outputs with 0, 1 or 2 workers and random task delays; another seed differs", async () => {
  const reference = await collect(0, 0, 7);
  assert.equal(reference.keys.length, 12);
  for (const [workers, delay] of [[0, 5], [1, 5], [2, 0], [2, 8]] as const) {
    assert.deepEqual(await collect(workers, delay, 7), reference, `workers ${workers}, delay ${delay}`);
  }
  const other = await collect(0, 0, 8);
  assert.notDeepEqual(other.keys, reference.keys);
  assert.notDeepEqual(other.targets, reference.targets);
});

test("cancellation: an abort signal stops the source and running work; the run reports cancelled", async () => {
  const controller = new AbortController();
  let pulled = 0;
  const endless = () =>
    sourceOf("video", function* () {
      for (let i = 0; ; i++) {
        pulled++;
        yield { id: `v${i}`, uri: `/v${i}` };
      }
    });
  const cpu = createCpuPool(2);
  let abortedTasks = 0;
  const slowStage = defineStage({
    name: "slowStage",
    in: "video",
    out: "video",
    config: z.object({}),
    create: () => ({
      kind: "map",
      map: (video: VideoRef, ctx) =>
        new Promise<VideoRef>((resolve, reject) => {
          const timer = setTimeout(() => resolve(video), 20);
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            abortedTasks++;
            reject(ctx.signal.reason);
          });
        }),
    }),
  });
  let consumed = 0;
  const summary = await runPipeline(
    chain(endless(), slowStage({}, { concurrency: 2 })),
    () => {
      consumed++;
      if (consumed === 5) controller.abort();
    },
    { signal: controller.signal, cpu, maxInFlight: 8 },
  );
  await cpu.close();
  assert.equal(summary.status, "cancelled");
  assert.ok(consumed >= 5 && consumed <= 6);
  const pulledAtEnd = pulled;
  await sleep(50);
  assert.equal(pulled, pulledAtEnd, "the source is not pulled after cancellation");
  assert.ok(pulled <= consumed + 8 + 1);
  assert.ok(abortedTasks >= 1, "running tasks saw the abort");
  await assert.rejects(runPipeline(chain(endless()), () => {}, { signal: controller.signal }), { name: "Cancelled" });
});

test("a run without a source, or with a bad maxInFlight, is refused up front", async () => {
  await assert.rejects(runPipeline([batch({ size: 2 })] as never, () => {}), /needs a source stage first/);
  await assert.rejects(runPipeline(chain(listSource({ items: [] })), () => {}, { maxInFlight: 0 }), /maxInFlight must be a positive integer/);
});

test("sink errors stop the run with the sink named; limit stops after n outputs", async () => {
  await assert.rejects(
    runPipeline(chain(listSource({ items: videos(3) })), (video) => {
      if (video.id === "v1") throw new Error("disk full");
    }),
    (error: unknown) => error instanceof ClipflowError && error.stage === "sink" && error.key === "v1",
  );
  const seen: string[] = [];
  const summary = await runPipeline(chain(listSource({ items: videos(50) })), (v) => {
    seen.push(v.id);
  }, { limit: 7, maxInFlight: 4 });
  assert.equal(summary.status, "stopped");
  assert.equal(seen.length, 7);
  assert.ok(summary.pulled <= 7 + 4);
});

test("a dropped partial batch is counted, and its permits come back", async () => {
  const summary = await runPipeline(chain(listSource({ items: videos(7) }), randomClip(), batch({ size: 3 })), () => {}, { maxInFlight: 4 });
  assert.equal(summary.emitted, 2);
  const batchMetrics = (summary.metrics.stages as { stage: string; dropped: number }[]).find((s) => s.stage === "batch");
  assert.equal(batchMetrics?.dropped, 1);
  assert.match(formatSummary(summary), / · dead letters: none · dropped by design: batch 1$/);
  assert.equal(summary.metrics.in_flight, 0);
});
