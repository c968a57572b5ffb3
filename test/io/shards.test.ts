import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { chain } from "../../src/core/pipeline.ts";
import { runPipeline } from "../../src/core/runner.ts";
import { openDataset } from "../../src/io/datasets.ts";
import { assignShards, readShard, resolveShards, writeShards } from "../../src/io/shards.ts";
import { serveDirectory } from "../../src/io/staticServer.ts";
import { decode } from "../../src/stages/decode.ts";
import { shards } from "../../src/stages/shards.ts";
import { shuffle } from "../../src/stages/shuffle.ts";
import { videos } from "../../src/stages/videos.ts";
import type { Sample, VideoRef } from "../../src/core/types.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("assignShards: every shard read by exactly one reader per epoch; deterministic; epochs reorder", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 9 }), (n, worldSize, workers, epoch) => {
      const names = Array.from({ length: n }, (_, i) => `s${i}.tar`);
      const seen: string[] = [];
      for (let rank = 0; rank < worldSize; rank++) {
        for (let worker = 0; worker < workers; worker++) {
          const mine = assignShards(names, { seed: 3, epoch, rank, worldSize, worker, workers });
          assert.deepEqual(mine, assignShards(names, { seed: 3, epoch, rank, worldSize, worker, workers }));
          seen.push(...mine);
        }
      }
      assert.deepEqual(seen.sort(), [...names].sort());
    }),
    { numRuns: 100, seed: 1 },
  );
  const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
  const reader = { seed: 1, rank: 0, worldSize: 1, worker: 0, workers: 1 };
  assert.notDeepEqual(assignShards(names, { ...reader, epoch: 0 }), assignShards(names, { ...reader, epoch: 1 }));
  assert.throws(() => assignShards(names, { ...reader, epoch: 0, rank: 1 }), /rank 1\/1, worker 0\/1 is not a valid reader/);
});

const serve = serveDirectory;

test("write shards, stream them back from disk and over HTTP: same records, same decoded frames as the files", async () => {
  const source = openDataset(await tinyActions());
  const out = tempDir("clipflow-shards-");
  const index = await writeShards(source.videos, out, 5);
  assert.deepEqual(index.shards.map((s) => s.samples), [5, 5, 2]);
  assert.deepEqual(JSON.parse(readFileSync(join(out, "index.json"), "utf8")), index);
  const first = [];
  for await (const sample of readShard(join(out, "shard-000000.tar"))) first.push(sample);
  assert.deepEqual(first.map((s) => s.record.id), source.videos.slice(0, 5).map((v) => v.id));
  assert.deepEqual(first[0]?.data, new Uint8Array(readFileSync(source.videos[0]?.uri as string)));
  assert.equal(first[0]?.record.label, source.videos[0]?.label);

  const config = { numFrames: 4, stride: 3, start: "centre" as const };
  const fromFiles = new Map<string, Sample>();
  await runPipeline(chain(videos({ data: await tinyActions() }), decode(config)), (s) => void fromFiles.set(s.key, s));
  const server = await serve(out);
  try {
    assert.deepEqual(await resolveShards(`${server.url}/index.json`), index.shards.map((s) => ({ uri: `${server.url}/${s.name}`, samples: s.samples })));
    const streamed: Sample[] = [];
    const deadLetters = new DeadLetterSink();
    const summary = await runPipeline(
      chain(shards({ data: `${server.url}/index.json`, keep: 16 }), shuffle<VideoRef>({ buffer: 4 }), decode(config)),
      (s) => void streamed.push(s),
      { maxInFlight: 8, seed: 2, deadLetters },
    );
    assert.deepEqual(deadLetters.records, []);
    assert.equal(summary.emitted, 12);
    // the index once for resolveShards above, once by the source; each shard exactly once
    assert.deepEqual(server.requests.sort(), ["/index.json", "/index.json", ...index.shards.map((s) => `/${s.name}`)].sort());
    for (const sample of streamed) {
      const file = fromFiles.get(sample.key);
      assert.ok(file, sample.key);
      assert.deepEqual(sample.views.rgb?.data, file.views.rgb?.data, sample.key);
      assert.deepEqual(sample.targets, file.targets);
      assert.match(String(sample.meta.shard), /^shard-00000\d\.tar$/);
    }
    assert.notDeepEqual(streamed.map((s) => s.key), source.videos.map((v) => v.id), "shard order and the buffer shuffle");
  } finally {
    await server.close();
  }
});

test("damaged or missing shards are typed errors naming the shard", async () => {
  const source = openDataset(await tinyActions());
  const out = tempDir("clipflow-shards-bad-");
  await writeShards(source.videos.slice(0, 2), out, 2);
  const whole = readFileSync(join(out, "shard-000000.tar"));
  writeFileSync(join(out, "cut.tar"), whole.subarray(0, Math.floor(whole.length / 2) + 7));
  const drain = async (uri: string, expected?: number) => {
    for await (const _ of readShard(uri, undefined, expected)) void _;
  };
  await assert.rejects(drain(join(out, "cut.tar")), (e: unknown) => e instanceof ClipflowError && e.tag === "CorruptFile" && e.uri === join(out, "cut.tar"));
  // cut cleanly between samples: only the index can tell
  await assert.rejects(drain(join(out, "shard-000000.tar"), 3), /shard has 2 samples, its index says 3/);
  await assert.rejects(drain(join(out, "none.tar")), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile");
  await assert.rejects(resolveShards(join(out, "list.txt")), /neither a \.tar shard nor an index\.json/);
  await assert.rejects(writeShards([{ id: "x", uri: join(out, "gone.mp4") }], out, 1), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile");
});
