import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { formatDuration, RunMetrics, startProgress } from "../../src/core/metrics.ts";
import { chain } from "../../src/core/pipeline.ts";
import { runPipeline } from "../../src/core/runner.ts";
import { listSource } from "../../src/stages/index.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("formatDuration", () => {
  assert.equal(formatDuration(5.4), "5s");
  assert.equal(formatDuration(125), "2m05s");
  assert.equal(formatDuration(7260), "2h01m");
  assert.equal(formatDuration(Infinity), "?");
});

test("stage metrics count, time and measure queues", () => {
  const metrics = new RunMetrics(100);
  const stage = metrics.stage("decode", "decode");
  stage.enqueue();
  stage.enqueue();
  const started = stage.start();
  stage.finish(started - 10, 1);
  const snapshot = stage.snapshot(1000);
  assert.equal(snapshot.in, 2);
  assert.equal(snapshot.out, 1);
  assert.equal(snapshot.queue, 1);
  assert.equal(snapshot.max_queue, 2);
  assert.ok((snapshot.busy_ms as number) >= 10);
  metrics.pulled = 50;
  assert.match(metrics.progressLine(), /^50\/100 samples · [\d.]+\/s · ETA \S+ · in flight 0 · busiest decode$/);
});

test("progress: a rewritten line on a TTY, JSONL snapshots in a file, a final record at the end", async () => {
  const dir = tempDir("clipflow-progress-");
  const writes: string[] = [];
  const stream = { isTTY: true, write: (text: string) => writes.push(text) } as unknown as NodeJS.WriteStream;
  const items = Array.from({ length: 30 }, (_, i) => ({ id: `v${i}`, uri: `/v${i}` }));
  await runPipeline(chain(listSource({ items })), () => new Promise((resolve) => setTimeout(resolve, 2)), {
    progress: { stream, jsonl: join(dir, "metrics.jsonl"), intervalMs: 10 },
  });
  assert.ok(writes.length >= 2);
  assert.ok(writes.every((text) => text.startsWith("\r\x1b[2K")));
  assert.match(writes.at(-1) ?? "", /30\/30 samples .*\n$/);
  const records = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  const final = records.at(-1) as { final?: boolean; pulled?: number; emitted?: number; stages?: unknown[] };
  assert.equal(final.final, true);
  assert.equal(final.pulled, 30);
  assert.equal(final.emitted, 30);
});
