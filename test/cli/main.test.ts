import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/tempDir.ts";

const bin = fileURLToPath(new URL("../../bin/clipflow.js", import.meta.url));
const clipflow = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });

test("--help lists every command of the CLI contract and exits 0; no command exits 2 with usage", () => {
  const help = clipflow("--help");
  assert.equal(help.status, 0);
  for (const name of ["synth", "probe", "flow", "pretrain", "extract", "eval", "shard", "schema", "demo"]) {
    assert.match(help.stdout, new RegExp(`^  ${name} `, "m"));
  }
  const none = clipflow();
  assert.equal(none.status, 2);
  assert.match(none.stdout, /^Usage: clipflow <command>/m);
});

test("an unknown command or flag fails with a message naming it", () => {
  const unknown = clipflow("pretrian");
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "pretrian"/);
  const flag = clipflow("schema", "--outt", "x");
  assert.equal(flag.status, 1);
  assert.match(flag.stderr, /^ConfigError: clipflow schema: Unknown option '--outt'/);
});

test("schema prints the JSON Schema (stdout or --out), with --help of its own", () => {
  const printed = clipflow("schema");
  assert.equal(printed.status, 0);
  const schema = JSON.parse(printed.stdout) as { properties: Record<string, unknown> };
  assert.ok("stages" in schema.properties && "maxInFlight" in schema.properties);
  const dir = tempDir("clipflow-cli-");
  assert.equal(clipflow("schema", "--out", join(dir, "s.json")).status, 0);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, "s.json"), "utf8")), schema);
  const help = clipflow("schema", "--help");
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^clipflow schema \[--out FILE\]/);
});

test("synth then probe: a dataset on disk, one JSON line per video and a summary; bad flags name the flag", () => {
  const dir = tempDir("clipflow-cli-synth-");
  const synth = clipflow("synth", "--out", join(dir, "d"), "--videos", "4", "--classes", "2", "--size", "32x32", "--seconds", "0.5");
  assert.equal(synth.status, 0, synth.stderr);
  assert.match(synth.stdout, /^wrote 4 actions videos \(2 classes\) to /);
  const probe = clipflow("probe", join(dir, "d"), "--out", join(dir, "index.jsonl"), "--workers", "1");
  assert.equal(probe.status, 0, probe.stderr);
  assert.match(probe.stderr, /probed 4 videos: ok 4/);
  const lines = readFileSync(join(dir, "index.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(lines.length, 4);
  assert.deepEqual(Object.keys(lines[0] ?? {}), ["id", "uri", "ok", "frames", "fps", "width", "height", "duration_s", "codec"]);
  assert.equal(clipflow("synth", "--out", dir, "--kind", "trimmed").stderr.trim(), 'ConfigError [field --kind]: --kind must be actions or untrimmed, got "trimmed"');
  assert.match(clipflow("synth").stderr, /--out is required/);
  assert.match(clipflow("probe").stderr, /DATA is required/);
  assert.equal(clipflow("probe", join(dir, "nope")).status, 1);
});

test("shard writes tar shards and an index from any DATA", () => {
  const dir = tempDir("clipflow-cli-shard-");
  assert.equal(clipflow("synth", "--out", join(dir, "d"), "--videos", "4", "--classes", "2", "--size", "32x32", "--seconds", "0.5").status, 0);
  const shard = clipflow("shard", "--data", join(dir, "d"), "--out", join(dir, "s"), "--per-shard", "3");
  assert.equal(shard.status, 0, shard.stderr);
  assert.match(shard.stdout, /^wrote 2 shards \(4 videos, [\d.]+ MiB\) and /);
  const index = JSON.parse(readFileSync(join(dir, "s", "index.json"), "utf8")) as { shards: { samples: number }[] };
  assert.deepEqual(index.shards.map((s) => s.samples), [3, 1]);
  assert.match(clipflow("shard", "--data", join(dir, "d"), "--out", join(dir, "t"), "--per-shard", "0").stderr, /--per-shard must be an integer >= 1/);
});
