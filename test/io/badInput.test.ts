import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createCpuPool } from "../../src/core/cpuPool.ts";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { chain } from "../../src/core/pipeline.ts";
import { runPipeline } from "../../src/core/runner.ts";
import type { Sample } from "../../src/core/types.ts";
import { listFolder } from "../../src/io/datasets.ts";
import { encodeFrames } from "../../src/io/encode.ts";
import { ffmpegBinary } from "../../src/io/ffmpegBinary.ts";
import { rngFromSeed } from "../../src/core/rng.ts";
import { decode } from "../../src/stages/decode.ts";
import { videos } from "../../src/stages/videos.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("bad inputs: each is a typed dead letter naming its file; every good video still comes through", async () => {
  const dir = tempDir("clipflow-bad-");
  const good = listFolder(await tinyActions()).videos.slice(0, 2).map((video) => video.uri);
  const rows: string[] = ["path,label,note"];
  const add = (name: string, note = "") => rows.push(`"${name.replace(/"/g, '""')}",0,${note}`);
  good.forEach((uri, i) => {
    copyFileSync(uri, join(dir, `good${i}.mp4`));
    add(`good${i}.mp4`, "good");
  });
  for (const name of ["with space.mp4", `quote'"s.mp4`, "ünïcødé 動画.mp4", "-dash.mp4"]) {
    copyFileSync(good[0] as string, join(dir, name));
    add(name, "odd name");
  }
  writeFileSync(join(dir, "empty.mp4"), "");
  add("empty.mp4");
  writeFileSync(join(dir, "truncated.mp4"), readFileSync(good[1] as string).subarray(0, 3000));
  add("truncated.mp4");
  const rng = rngFromSeed(1);
  writeFileSync(join(dir, "random.mp4"), Uint8Array.from({ length: 50_000 }, () => rng.int(0, 255)));
  add("random.mp4");
  const audio = spawnSync(ffmpegBinary().path, ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "-y", join(dir, "audio.mp4")]);
  assert.equal(audio.status, 0, String(audio.stderr));
  add("audio.mp4");
  await encodeFrames(join(dir, "short.mp4"), Array.from({ length: 5 }, () => new Uint8Array(32 * 32 * 3)), { width: 32, height: 32, fps: 30 });
  add("short.mp4");
  await encodeFrames(join(dir, "wide.mp4"), Array.from({ length: 20 }, () => new Uint8Array(2048 * 16 * 3)), { width: 2048, height: 16, fps: 30 });
  add("wide.mp4");
  add("missing.mp4");
  mkdirSync(join(dir, "folder.mp4"));
  add("folder.mp4");
  writeFileSync(join(dir, "locked.mp4"), readFileSync(good[0] as string));
  chmodSync(join(dir, "locked.mp4"), 0o000);
  add("locked.mp4");
  const fifo = join(dir, "hang.mp4");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  add("hang.mp4");
  // a server that accepts and never answers: the decode hangs in libav's read until the watchdog gives up
  const sockets = new Set<Socket>();
  const server = createServer(() => {});
  server.on("connection", (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  rows.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}/stalled.mp4,0,`);
  writeFileSync(join(dir, "manifest.csv"), rows.join("\n") + "\n");

  const cpu = createCpuPool(2);
  const deadLetters = new DeadLetterSink(join(dir, "dead-letter.jsonl"));
  const seen: Sample[] = [];
  try {
    const summary = await runPipeline(
      chain(videos({ data: join(dir, "manifest.csv") }), decode({ numFrames: 8, stride: 2, maxWidth: 1920 }, { concurrency: 2, timeoutMs: 2000 })),
      (sample) => {
        seen.push(sample);
      },
      { cpu, deadLetters, maxInFlight: 4 },
    );
    assert.equal(summary.status, "completed");
  } finally {
    for (const socket of sockets) socket.destroy(); // lets the worker blocked in the hung read go
    server.close();
    await cpu.close();
  }
  const root = process.getuid?.() === 0;
  // as root the permission bits do not stop a read, so the locked file decodes (said, not hidden)
  const expectedGood = ["good0", "good1", "with space", `quote'"s`, "ünïcødé 動画", "-dash", ...(root ? ["locked"] : [])];
  assert.deepEqual(seen.map((sample) => sample.key), expectedGood);
  for (const sample of seen) assert.deepEqual(sample.views.rgb?.shape, [8, 48, 64, 3]);
  const byFile = Object.fromEntries(
    deadLetters.records.map((record) => [record.uri?.startsWith("http") ? "http" : record.uri?.slice(dir.length + 1), record.error]),
  );
  assert.deepEqual(byFile, {
    "empty.mp4": "CorruptFile",
    "truncated.mp4": "CorruptFile",
    "random.mp4": "CorruptFile",
    "audio.mp4": "NoVideoStream",
    "short.mp4": "TooShort",
    "wide.mp4": "CorruptFile",
    "missing.mp4": "MissingFile",
    "folder.mp4": "DecodeError",
    ...(root ? {} : { "locked.mp4": "DecodeError" }),
    "hang.mp4": "DecodeError",
    http: "Timeout",
  });
  const lines = readFileSync(join(dir, "dead-letter.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { stage: string; key: string });
  assert.equal(lines.length, deadLetters.total);
  assert.ok(lines.every((line) => line.stage === "decode"));
  const wide = deadLetters.records.find((record) => record.uri?.endsWith("wide.mp4"));
  assert.match(wide?.message ?? "", /absurd dimensions 2048×16 \(limit 1920×8192\)/);
  assert.equal(deadLetters.records.find((record) => record.uri?.endsWith("hang.mp4"))?.message, "cannot open: not a regular file (a FIFO, socket or device)");
});
