/**
 * CoCLR end to end on tiny synthetic videos: stage 1 (InfoNCE) on RGB and on flow, then co-training cycles that
 * alternate the modalities with the other one as frozen sampler; evaluation of the flow encoder on flow clips.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ClipflowError } from "../../src/core/errors.ts";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import { openDataset } from "../../src/io/datasets.ts";
import { TagQueue } from "../../src/memory/tagQueue.ts";
import { groupId, positivePrecision } from "../../src/models/coclr.ts";
import { coclrSchedule, coclrSpec, type CoclrOverrides } from "../../src/pipelines/coclr.ts";
import { evaluate } from "../../src/pipelines/evaluate.ts";
import { clipGeometry, normalizationOf } from "../../src/pipelines/features.ts";
import { flowCacheParams } from "../../src/io/flowStore.ts";
import { buildTrainer } from "../../src/models/trainerHandle.ts";
import { replicasOf, trainSection } from "../../src/models/config.ts";
import { pretrain } from "../../src/pipelines/pretrain.ts";
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../../src/core/types.ts";
import { prpSpec } from "../../src/pipelines/prp.ts";
import { parsePipelineSpec } from "../../src/stages/index.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

const bin = fileURLToPath(new URL("../../bin/clipflow.js", import.meta.url));
const clipflow = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
const quiet = () => undefined;

let data = "";
let work = "";
let cacheDir = "";

/** A tiny CoCLR spec: R3D at width 1/16, 6-frame clips at 32 px, batch 2, queue 4 (full after two steps). */
function spec(o: Partial<CoclrOverrides> & { steps: number }, task: Record<string, unknown> = {}) {
  const raw = coclrSpec({ data: join(data, "trainlist01.txt"), batch: 2, width: 0.0625, size: 32, frames: 6, backbone: "r3d", seed: 5, ...o }) as {
    train: { task: Record<string, unknown> };
  };
  raw.train.task.queueSize = 4;
  raw.train.task.hidden = 32;
  Object.assign(raw.train.task, task);
  return parsePipelineSpec(raw);
}

type Metric = { step: number; loss: number; warmup?: number; positives?: number; positivePrecision?: number };
const metricsOf = (run: string) => readFileSync(join(run, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as Metric);
const tensor = async (run: string, name: string) => (await readCheckpoint(run)).state.tensors.get(name)?.data;

before(async () => {
  data = await tinyActions();
  work = tempDir("clipflow-coclr-");
  const made = clipflow("flow", "--data", data, "--out", join(work, "flow"), "--method", "fast", "--size", "32", "--format", "png", "--workers", "1");
  assert.equal(made.status, 0, made.stderr);
  cacheDir = /→ (.*)\n/.exec(made.stdout)?.[1] as string;
  await pretrain({ spec: spec({ steps: 2 }), out: join(work, "rgb1"), workers: 0, log: quiet, progress: false });
  await pretrain({ spec: spec({ steps: 2, flow: cacheDir }), out: join(work, "flow1"), workers: 0, log: quiet, progress: false });
});

describe("CoCLR co-training cycles", () => {
  it("an RGB cycle starts from the RGB run, mines with the frozen flow encoder, and steps only once the queue is full", async () => {
    const out = join(work, "cycle-rgb");
    const cycle = spec({ steps: 4, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") });
    assert.deepEqual(
      cycle.stages.map((stage) => stage.stage),
      ["videos", "flowPair", "spatialAugment", "colourJitter", "blur", "normalize", "normalize", "batch"],
    );
    const result = await pretrain({ spec: cycle, out, workers: 0, log: quiet, progress: false });
    assert.equal(result.steps, 4);
    assert.equal(readFileSync(join(out, "dead-letter.jsonl"), "utf8").trim(), "");
    const metrics = metricsOf(out);
    // batch 2, queue 4: steps 1–2 fill the queue (no update), steps 3–4 train
    assert.deepEqual(metrics.map((m) => m.warmup ?? 0), [1, 1, 0, 0]);
    for (const m of metrics) {
      assert.ok(Number.isFinite(m.loss));
      // the self-positive or mined ones: at least one positive per row, at most 1 + top-K + siblings (queue of 4)
      assert.ok(m.positives !== undefined && m.positives >= 1 && m.positives <= 5, String(m.positives));
    }
    // the videos carry labels: from step 2 on (labelled keys queued) the mining precision is logged, a fraction
    assert.equal(metrics[0]!.positivePrecision, undefined);
    for (const m of metrics.slice(1)) assert.ok(m.positivePrecision !== undefined && m.positivePrecision >= 0 && m.positivePrecision <= 1, String(m.positivePrecision));
    // frozen sampler: the flow run's weights, unchanged, travel in the cycle's checkpoint
    const flowWeight = await tensor(join(work, "flow1"), "model/backbone.stem.conv.weight");
    assert.ok(flowWeight !== undefined);
    assert.deepEqual(await tensor(out, "task/sampler.backbone.stem.conv.weight"), flowWeight);
    // the trained encoder started from the RGB run and moved
    const start = await tensor(join(work, "rgb1"), "model/backbone.stem.conv.weight");
    const end = await tensor(out, "model/backbone.stem.conv.weight");
    assert.ok(start !== undefined && end !== undefined);
    assert.notDeepEqual(end, start);
  });

  it("the reference's colour-on-flow quirk (option): the colour recipe on RGB and flow, one draw per clip", async () => {
    const quirk = spec({ steps: 1, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1"), flowColourQuirk: true });
    const colour = quirk.stages.filter((stage) => stage.stage === "colourJitter" || stage.stage === "blur") as Array<{ views?: string[]; shareAcrossViews?: unknown }>;
    assert.deepEqual(colour.map((stage) => [stage.views, stage.shareAcrossViews]), [[["rgb", "flow"], "clip"], [["rgb", "flow"], "clip"]]);
    const plain = spec({ steps: 1, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") });
    const plainColour = plain.stages.filter((stage) => stage.stage === "colourJitter") as Array<{ views?: string[] }>;
    assert.deepEqual(plainColour.map((stage) => stage.views), [["rgb"]]);
    const result = await pretrain({ spec: quirk, out: join(work, "cycle-quirk"), workers: 0, log: quiet, progress: false });
    assert.equal(result.steps, 1);
  });

  it("a warm-up step changes no weight: a cycle stopped while its queue fills holds the initial encoder", async () => {
    const out = join(work, "cycle-warm");
    await pretrain({ spec: spec({ steps: 2, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") }), out, workers: 0, log: quiet, progress: false });
    assert.deepEqual(await tensor(out, "model/backbone.stem.conv.weight"), await tensor(join(work, "rgb1"), "model/backbone.stem.conv.weight"));
    assert.deepEqual(metricsOf(out).map((m) => m.warmup), [1, 1]);
  });

  it("the flow cycle mines with the newest RGB encoder; resume continues exactly (queues, groups, sampler in the checkpoint)", async () => {
    const o = { flow: cacheDir, cycle: "flow" as const, init: join(work, "flow1"), sampler: join(work, "cycle-rgb") };
    const straight = join(work, "cycle-flow");
    await pretrain({ spec: spec({ steps: 5, ...o }), out: straight, workers: 0, log: quiet, progress: false });
    const split = join(work, "cycle-flow-split");
    await pretrain({ spec: spec({ steps: 3, ...o }), out: split, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: spec({ steps: 5, ...o }), out: split, resume: true, workers: 0, log: quiet, progress: false });
    assert.deepEqual(metricsOf(split).map((m) => m.loss), metricsOf(straight).map((m) => m.loss));
    assert.deepEqual(await tensor(split, "model/backbone.stem.conv.weight"), await tensor(straight, "model/backbone.stem.conv.weight"));
  });

  it("evaluates the flow encoder on flow clips (10 uniformly spaced clips per video from the cache)", async () => {
    const result = await evaluate({ checkpoint: join(work, "cycle-flow"), train: join(data, "trainlist01.txt"), test: join(data, "testlist01.txt"), kinds: ["retrieval"], protocol: "coclr", clips: 3, workers: 0 });
    const listed = (name: string) => readFileSync(join(data, name), "utf8").trim().split("\n").length;
    assert.equal(result.clipsPerVideo, 3);
    assert.equal(result.trainVideos, listed("trainlist01.txt"));
    assert.equal(result.testVideos, listed("testlist01.txt"));
    assert.equal(typeof result["R@1"], "number");
  });

  it("evaluates an RGB encoder of a cycle from decoded frames alone: the flow cache's short side, the clip's frames and stride", async () => {
    const cycle = spec({ steps: 1, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") });
    (cycle.stages[1] as { stride?: number }).stride = 3;
    // the spec's own shortSide (a default, unused with cacheDir) is not the cache's 32 px
    assert.notEqual((cycle.stages[1] as { shortSide?: number }).shortSide, 32);
    assert.deepEqual(clipGeometry(cycle), { decode: { numFrames: 6, stride: 3, shortSide: 32, crop: [32, 32] }, normalize: normalizationOf(cycle, "rgb") });
    const flowCycle = spec({ steps: 1, flow: cacheDir, cycle: "flow", init: join(work, "flow1"), sampler: join(work, "rgb1") });
    assert.equal(clipGeometry(flowCycle).flow?.modality, "flow");
    // test videos that have no flow in the cache (copies under new names) are evaluated all the same
    const noFlow = tempDir("clipflow-coclr-noflow-");
    const tests = openDataset(join(data, "testlist01.txt")).videos.slice(0, 3);
    tests.forEach((video, i) => copyFileSync(video.uri, join(noFlow, `unseen ${i}.mp4`)));
    writeFileSync(join(noFlow, "test.csv"), `path,label\n${tests.map((video, i) => `${join(noFlow, `unseen ${i}.mp4`)},${video.label}`).join("\n")}\n`);
    const result = await evaluate({ checkpoint: join(work, "cycle-rgb"), train: join(data, "trainlist01.txt"), test: join(noFlow, "test.csv"), kinds: ["retrieval"], protocol: "coclr", clips: 2, workers: 0 });
    assert.equal(result.testVideos, 3);
    assert.throws(() => flowCacheParams(noFlow), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile" && /no complete entry/.test(e.message));
    assert.throws(() => flowCacheParams(join(noFlow, "absent")), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile" && /cannot be read/.test(e.message));
    assert.equal(flowCacheParams(cacheDir).shortSide, 32);
  });

  it("a cycle runs as one replica: auto picks 1, and 2 is refused (its warm-up and second queues are not shared)", async () => {
    const cycle = spec({ steps: 1, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") });
    assert.equal(replicasOf(trainSection.parse(cycle.train), 2), 1);
    const two = parsePipelineSpec({ ...cycle, train: { ...(cycle.train as object), replicas: 2 } });
    await assert.rejects(pretrain({ spec: two, out: join(work, "cycle-replicas"), workers: 0, log: quiet, progress: false }), (e: unknown) => e instanceof ClipflowError && e.field === "train.replicas");
  });

  it("no tensor leaks: the count is stable from step to step once the optimiser's state exists", async () => {
    const trainer = await buildTrainer(spec({ steps: 1, flow: cacheDir, cycle: "rgb", init: join(work, "rgb1"), sampler: join(work, "flow1") }));
    await trainer.task.prepare?.(false);
    const view = () => ({ data: Uint8Array.from({ length: 2 * 6 * 32 * 32 * 3 }, (_, i) => (i * 7) % 256), shape: [2, 6, 32, 32, 3], layout: "BTHWC" as const });
    const batch: Batch = { keys: ["a", "b"], videoIds: ["a", "b"], views: { rgb0: view(), rgb1: view(), flow1: view() }, targets: {}, meta: [{ group: "A_g01" }, { group: "B_g02" }] };
    const counts: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      trainer.step(batch);
      counts.push(tf.memory().numTensors);
    }
    // steps 1–2 fill the queue of 4 (no update); step 3 creates Adam's moments; then nothing new
    assert.deepEqual(counts.slice(3), [counts[2], counts[2], counts[2]]);
    assert.equal(counts[0], counts[1]);
    trainer.task.dispose();
    trainer.optimizer.dispose();
  });

  it("positive precision: same-label share of the queue positives, unlabelled rows and entries left out", () => {
    const labels = new TagQueue(4);
    labels.write(0, [1, 2, 1, -1]);
    // row 0 (label 1): positives at queue 0 (hit), 1 (miss), 3 (unlabelled: not counted); row 1 (label 2): queue 1 (hit)
    // row 2 (no label): not counted; self columns never count
    const mask = tf.tensor2d([[1, 1, 1, 0, 1], [0, 0, 1, 0, 0], [1, 1, 1, 1, 1]]);
    const precision = positivePrecision(mask, labels, [1, 2, -1]);
    assert.ok(precision !== undefined);
    assert.ok(Math.abs(precision.dataSync()[0]! - 2 / 3) < 1e-7);
    assert.equal(positivePrecision(mask, labels, [-1, -1, -1]), undefined);
    const empty = new TagQueue(4);
    assert.equal(positivePrecision(mask, empty, [1, 2, 3]), undefined);
    tf.dispose([mask, precision]);
    labels.dispose();
    empty.dispose();
  });

  it("sibling groups become exact float32 integers; no group is −1", () => {
    assert.equal(groupId("ApplyEyeMakeup_g08"), groupId("ApplyEyeMakeup_g08"));
    assert.notEqual(groupId("ApplyEyeMakeup_g08"), groupId("ApplyEyeMakeup_g09"));
    assert.ok(groupId("Slide_g01") >= 0 && groupId("Slide_g01") < 2 ** 23);
    assert.equal(groupId(undefined), -1);
    assert.equal(groupId(""), -1);
  });
});

describe("CoCLR schedule (clipflow coclr)", () => {
  it("alternates the modalities, each run starting from its own newest encoder and mining with the other's", () => {
    const runs = coclrSchedule({ data: "D", flow: "F", out: "OUT", cycles: 2, infonce: { steps: 7 }, perCycle: { epochs: 3 } });
    assert.deepEqual(
      runs.map((r) => [r.name, r.overrides.cycle, r.overrides.init, r.overrides.sampler, r.overrides.flow, r.overrides.steps, r.overrides.epochs]),
      [
        ["infonce-rgb", undefined, undefined, undefined, undefined, 7, undefined],
        ["infonce-flow", undefined, undefined, undefined, "F", 7, undefined],
        ["cycle1-rgb", "rgb", join("OUT", "infonce-rgb"), join("OUT", "infonce-flow"), "F", undefined, 3],
        ["cycle1-flow", "flow", join("OUT", "infonce-flow"), join("OUT", "cycle1-rgb"), "F", undefined, 3],
        ["cycle2-rgb", "rgb", join("OUT", "cycle1-rgb"), join("OUT", "cycle1-flow"), "F", undefined, 3],
        ["cycle2-flow", "flow", join("OUT", "cycle1-flow"), join("OUT", "cycle2-rgb"), "F", undefined, 3],
      ],
    );
  });

  it("runs the whole schedule from the command line, and --resume keeps the finished runs", () => {
    const out = join(work, "schedule");
    const args = ["coclr", "--data", join(data, "trainlist01.txt"), "--flow", cacheDir, "--out", out, "--cycles", "1", "--infonce-steps", "1", "--cycle-steps", "2"];
    const tiny = ["--batch", "2", "--width", "0.0625", "--size", "32", "--frames", "6", "--backbone", "r3d", "--workers", "0"];
    const first = clipflow(...args, ...tiny);
    assert.equal(first.status, 0, first.stderr);
    for (const name of ["infonce-rgb", "infonce-flow", "cycle1-rgb", "cycle1-flow"]) assert.ok(existsSync(join(out, name, "checkpoints", "latest.json")), name);
    const recorded = JSON.parse(readFileSync(join(out, "cycle1-flow", "spec.json"), "utf8")) as { train: { task: { modality: string; init: string; sampler: string } } };
    assert.deepEqual(recorded.train.task.modality, "flow");
    assert.equal(recorded.train.task.init, join(out, "infonce-flow"));
    assert.equal(recorded.train.task.sampler, join(out, "cycle1-rgb"));
    assert.match(first.stdout, /encoders: RGB .*cycle1-rgb, flow .*cycle1-flow/);
    const again = clipflow(...args, ...tiny, "--resume");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /cycle1-flow: 2 steps/);
    assert.equal(readFileSync(join(out, "cycle1-flow", "metrics.jsonl"), "utf8").trim().split("\n").length, 2);
    const refused = clipflow(...args, ...tiny);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /already holds a run/);
  });
});

describe("UberNCE (the supervised oracle, InfoNCE with positives: labels)", () => {
  it("with no labelled key queued it is InfoNCE; once the queue holds same-label keys the loss changes", async () => {
    const instance = join(work, "uber-instance");
    const labels = join(work, "uber-labels");
    await pretrain({ spec: spec({ steps: 3 }), out: instance, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: spec({ steps: 3 }, { positives: "labels" }), out: labels, workers: 0, log: quiet, progress: false });
    const [a, b] = [metricsOf(instance), metricsOf(labels)];
    assert.equal(b[0]!.loss, a[0]!.loss);
    // the tiny set has 3 classes: with batch 2 and a queue of 4, a same-label key is queued by step 3 at the latest
    assert.ok(b.slice(1).some((m, i) => m.loss !== a[i + 1]!.loss), JSON.stringify([a, b]));
    assert.ok((await tensor(labels, "task/labels")) !== undefined);
  });

  it("a batch without labels is a StageError naming targets.label", async () => {
    const trainer = await buildTrainer(spec({ steps: 1 }, { positives: "labels" }));
    const view = () => ({ data: new Uint8Array(2 * 6 * 32 * 32 * 3), shape: [2, 6, 32, 32, 3], layout: "BTHWC" as const });
    const batch: Batch = { keys: ["a", "b"], videoIds: ["a", "b"], views: { rgb0: view(), rgb1: view() }, targets: {}, meta: [{}, {}] };
    assert.throws(() => trainer.step(batch), (e: unknown) => e instanceof ClipflowError && e.field === "targets.label");
    trainer.task.dispose();
    trainer.optimizer.dispose();
  });
});

describe("CoCLR cycle bad input", () => {
  const run = (o: Partial<CoclrOverrides>, out: string) => pretrain({ spec: spec({ flow: cacheDir, cycle: "rgb", ...o, steps: 1 }), out: join(work, out), workers: 0, log: quiet, progress: false });
  const fails = (field: string, tag = "ConfigError") => (e: unknown) => {
    assert.ok(e instanceof ClipflowError, String(e));
    assert.equal(`${e.tag} ${e.field}`, `${tag} ${field}`, e.message);
    return true;
  };

  it("a sampler of the same modality, a sampler that is not contrastive, a missing sampler, an init of the other modality", async () => {
    await assert.rejects(run({ sampler: join(work, "rgb1") }, "bad1"), fails("train.task.sampler"));
    const prp = join(work, "prp");
    await pretrain({ spec: parsePipelineSpec(prpSpec({ data: join(data, "trainlist01.txt"), steps: 1, batch: 2, backbone: "r3d", width: 0.0625, size: 32 })), out: prp, workers: 0, log: quiet, progress: false });
    await assert.rejects(run({ sampler: prp }, "bad2"), fails("train.task.sampler"));
    await assert.rejects(run({ sampler: join(work, "nowhere") }, "bad3"), (e: unknown) => e instanceof ClipflowError && e.tag === "MissingFile" && /nowhere/.test(e.message));
    await assert.rejects(run({ sampler: join(work, "flow1"), init: join(work, "flow1") }, "bad4"), fails("train.task.init"));
  });

  it("CLI: --cycle without --sampler or --flow, --sampler without --cycle, an unknown --cycle", () => {
    const base = ["pretrain", "--pipeline", "coclr", "--data", join(data, "trainlist01.txt"), "--out", join(work, "cli")];
    const noSampler = clipflow(...base, "--cycle", "rgb", "--flow", cacheDir);
    assert.equal(noSampler.status, 1);
    assert.match(noSampler.stderr, /--sampler/);
    const noFlow = clipflow(...base, "--cycle", "flow", "--sampler", join(work, "rgb1"));
    assert.equal(noFlow.status, 1);
    assert.match(noFlow.stderr, /--flow/);
    assert.match(clipflow(...base, "--sampler", join(work, "flow1")).stderr, /--cycle/);
    assert.match(clipflow(...base, "--cycle", "depth", "--flow", cacheDir).stderr, /--cycle: rgb or flow/);
  });
});
