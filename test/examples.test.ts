import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, it } from "node:test";
import { fileURLToPath } from "node:url";
import { synthesize } from "../src/io/synth.ts";
import { tinyActions } from "./helpers/videoFixtures.ts";
import { tempDir } from "./helpers/tempDir.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
let data = "";

before(async () => {
  data = await tinyActions();
});

it("examples/prp-small.json pretrains for a few steps from the CLI", () => {
  const out = join(tempDir("clipflow-example-"), "run");
  const run = spawnSync(
    process.execPath,
    [join(root, "bin/clipflow.js"), "pretrain", "--pipeline", join(root, "examples/prp-small.json"), "--data", join(data, "trainlist01.txt"), "--out", out, "--steps", "2", "--workers", "1"],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^done: 2 steps/m);
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n");
  assert.equal(metrics.length, 2);
  assert.equal(JSON.parse(readFileSync(join(out, "spec.json"), "utf8")).name, "prp-small");
});

it("examples/prp-synthetic.json (PRP with random crops and colour jitter on the target) pretrains for a few steps", () => {
  const out = join(tempDir("clipflow-example-"), "run");
  const run = spawnSync(
    process.execPath,
    [join(root, "bin/clipflow.js"), "pretrain", "--pipeline", join(root, "examples/prp-synthetic.json"), "--data", join(data, "trainlist01.txt"), "--out", out, "--steps", "2", "--workers", "1", "--batch", "2"],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^done: 2 steps, .* 0 dead-lettered/m);
  const metrics = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, number>);
  assert.equal(metrics.length, 2);
  for (const m of metrics) assert.ok(Number.isFinite(m.reconstruction) && Number.isFinite(m.classification), "both PRP terms reported");
  const spec = JSON.parse(readFileSync(join(out, "spec.json"), "utf8")) as { stages: Array<Record<string, unknown>> };
  assert.deepEqual(spec.stages.map((s) => s.stage), ["videos", "dilatedSample", "colourJitter", "batch"]);
  assert.equal(spec.stages[1]!.cropPosition, "random");
  assert.deepEqual(spec.stages[2]!.views, ["target"]);
});

it("examples/vtdl-synthetic.json (VTDL at 32×32, queue 256, Adam) pretrains for a few steps from the CLI", () => {
  const out = join(tempDir("clipflow-example-"), "run");
  const run = spawnSync(
    process.execPath,
    [join(root, "bin/clipflow.js"), "pretrain", "--pipeline", join(root, "examples/vtdl-synthetic.json"), "--data", join(data, "trainlist01.txt"), "--out", out, "--steps", "2", "--workers", "1", "--width", "0.0625", "--batch", "2"],
    { encoding: "utf8", timeout: 120_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^done: 2 steps/m);
  const spec = JSON.parse(readFileSync(join(out, "spec.json"), "utf8")) as { name: string; train: { task: { kind: string; queueSize: number } } };
  assert.deepEqual([spec.name, spec.train.task.kind, spec.train.task.queueSize], ["vtdl-synthetic", "vtdl", 256]);
});

it("examples/coclr-*-synthetic.json: RGB and flow stage 1, then an RGB cycle mined by the flow run, from the CLI", () => {
  const work = tempDir("clipflow-example-coclr-");
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/clipflow.js"), ...args], { encoding: "utf8", timeout: 180_000 });
  const flow = cli("flow", "--data", data, "--out", join(work, "flow"), "--method", "fast", "--size", "37", "--format", "jpeg", "--workers", "1");
  assert.equal(flow.status, 0, flow.stderr);
  // the examples with their folders moved into the temporary one
  type Spec = { stages: Array<{ stage: string; root?: string }>; train: { task: Record<string, unknown> } };
  const copy = (name: string, edit: (spec: Spec) => void): string => {
    const spec = JSON.parse(readFileSync(join(root, "examples", name), "utf8")) as Spec;
    for (const stage of spec.stages) if (stage.stage === "flowPair") stage.root = join(work, "flow");
    edit(spec);
    writeFileSync(join(work, name), JSON.stringify(spec));
    return join(work, name);
  };
  const common = ["--data", join(data, "trainlist01.txt"), "--steps", "2", "--workers", "1", "--width", "0.0625", "--batch", "2"];
  const runs = [
    cli("pretrain", "--pipeline", join(root, "examples/coclr-rgb-synthetic.json"), "--out", join(work, "rgb"), ...common),
    cli("pretrain", "--pipeline", copy("coclr-flow-synthetic.json", () => undefined), "--out", join(work, "flow-run"), ...common),
  ];
  const cycleSpec = copy("coclr-cycle-rgb-synthetic.json", (spec) => Object.assign(spec.train.task, { init: join(work, "rgb"), sampler: join(work, "flow-run") }));
  runs.push(cli("pretrain", "--pipeline", cycleSpec, "--out", join(work, "cycle"), ...common));
  for (const run of runs) {
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^done: 2 steps/m);
  }
  const task = (JSON.parse(readFileSync(join(work, "cycle", "spec.json"), "utf8")) as Spec).train.task;
  assert.deepEqual([task.kind, task.modality, task.queueSize, task.sampler], ["coclr", "rgb", 256, join(work, "flow-run")]);
});

it("examples/arrowOfTime.ts: a pretext composed in code (new stage + new task) trains for a few steps", () => {
  const out = join(tempDir("clipflow-arrow-"), "run");
  const run = spawnSync(process.execPath, ["--import", "tsx", join(root, "examples/arrowOfTime.ts"), join(data, "trainlist01.txt"), out, "3"], { encoding: "utf8", timeout: 120_000, cwd: root });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^arrow of time: 3 steps, last loss \d/m);
  const spec = JSON.parse(readFileSync(join(out, "spec.json"), "utf8")) as { stages: Array<{ stage: string }> };
  assert.deepEqual(spec.stages.map((stage) => stage.stage), ["videos", "decode", "reverseClip", "batch"]);
  assert.equal(readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").length, 3);
});

it("examples/shardsHttp.ts: pretrains from tar shards served over HTTP", () => {
  const out = join(tempDir("clipflow-shex-"), "run");
  const run = spawnSync(process.execPath, ["--import", "tsx", join(root, "examples/shardsHttp.ts"), join(data, "trainlist01.txt"), out, "2"], { encoding: "utf8", timeout: 120_000, cwd: root });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^shards over HTTP: 1 shards from http:\/\/127\.0\.0\.1:\d+\/index\.json, 2 steps, last loss \d/m);
  const spec = JSON.parse(readFileSync(join(out, "spec.json"), "utf8")) as { stages: Array<{ stage: string }> };
  assert.equal(spec.stages[0]?.stage, "shards");
});

it("clipflow demo runs end to end (smoke: 2 steps on 24 videos) and prints the table and the report path", () => {
  const dir = tempDir("clipflow-demo-");
  const run = spawnSync(
    process.execPath,
    [join(root, "bin/clipflow.js"), "demo", "--data", join(dir, "data"), "--out", join(dir, "run"), "--steps", "2", "--videos", "24", "--workers", "1"],
    { encoding: "utf8", timeout: 300_000 },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^encoder\s+R@1\s+R@5\s+R@10\s+accuracy/m);
  assert.match(run.stdout, /^prp\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$/m);
  assert.match(run.stdout, /^random-init\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$/m);
  assert.match(run.stdout, /report: .*report\.html/);
  for (const name of ["prp", "random-init"]) {
    const result = JSON.parse(readFileSync(join(dir, "run", "eval", `${name}.json`), "utf8")) as Record<string, number>;
    assert.equal(typeof result["R@1"], "number");
    assert.equal(typeof result.accuracy, "number");
  }
});

it("examples/tac-synthetic.json → extract → examples/tsp-region-synthetic.json (--gvf replaces its file) from the CLI", async () => {
  const work = tempDir("clipflow-tspex-");
  await synthesize({ out: join(work, "untrimmed"), kind: "untrimmed", videos: 2, seed: 9, width: 64, height: 48, seconds: 8, classes: 3 });
  const annotations = join(work, "untrimmed", "annotations.csv");
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, "bin/clipflow.js"), ...args], { encoding: "utf8", timeout: 120_000 });
  const tac = cli("pretrain", "--pipeline", join(root, "examples/tac-synthetic.json"), "--data", annotations, "--out", join(work, "tac"), "--steps", "2", "--workers", "1");
  assert.equal(tac.status, 0, tac.stderr);
  const refused = cli("pretrain", "--pipeline", join(root, "examples/tac-synthetic.json"), "--data", annotations, "--gvf", "x.h5", "--out", join(work, "bad"), "--steps", "1");
  assert.equal(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /--gvf.*has none/);
  const gvf = join(work, "gvf.h5");
  const extracted = cli("extract", "--checkpoint", join(work, "tac"), "--data", annotations, "--out", gvf, "--workers", "1");
  assert.equal(extracted.status, 0, extracted.stderr);
  const tsp = cli("pretrain", "--pipeline", join(root, "examples/tsp-region-synthetic.json"), "--data", annotations, "--gvf", gvf, "--out", join(work, "tsp"), "--steps", "2", "--workers", "1");
  assert.equal(tsp.status, 0, tsp.stderr);
  const spec = JSON.parse(readFileSync(join(work, "tsp", "spec.json"), "utf8")) as { stages: Array<{ stage: string; data?: string }> };
  assert.equal(spec.stages.find((stage) => stage.stage === "gvf")?.data, gvf);
  const metrics = readFileSync(join(work, "tsp", "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { region?: number; action?: number });
  assert.equal(metrics.length, 2);
  for (const m of metrics) assert.ok(Number.isFinite(m.region) && m.action !== undefined);
});
