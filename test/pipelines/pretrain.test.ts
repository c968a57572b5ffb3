import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ClipflowError } from "../../src/core/errors.ts";
import { readFeaturesH5 } from "../../src/io/featureFile.ts";
import type { Comparison } from "../../src/eval/compare.ts";
import { evaluate, specOfCheckpoint } from "../../src/pipelines/evaluate.ts";
import { prpSpec } from "../../src/pipelines/prp.ts";
import { pretrain } from "../../src/pipelines/pretrain.ts";
import { vtdlSpec } from "../../src/pipelines/vtdl.ts";
import { coclrSpec } from "../../src/pipelines/coclr.ts";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import { parsePipelineSpec } from "../../src/stages/index.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

const bin = fileURLToPath(new URL("../../bin/clipflow.js", import.meta.url));
const clipflow = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });

let data = "";
let work = "";
/** One replica: the baseline the two-replica and auto runs are compared with. */
const tiny = (steps: number) => {
  const raw = prpSpec({ data: join(data, "trainlist01.txt"), steps, epochs: 10, batch: 2, backbone: "r3d", width: 0.0625, size: 32, lr: 0.05, seed: 3 }) as { train: Record<string, unknown> };
  raw.train.replicas = 1;
  return parsePipelineSpec(raw);
};
const quiet = () => undefined;
const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, number>);

before(async () => {
  data = await tinyActions();
  work = tempDir("clipflow-pretrain-");
});

describe("pretrain (PRP, tiny R3D on synthetic actions)", () => {
  it("writes the run directory: spec.json, metrics.jsonl with every field, dead-letter.jsonl, checkpoints, report", async () => {
    const out = join(work, "run");
    const result = await pretrain({ spec: tiny(3), out, workers: 0, log: quiet, progress: false });
    assert.equal(result.status, "completed");
    assert.equal(result.steps, 3);
    const metrics = lines(join(out, "metrics.jsonl"));
    assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3]);
    for (const m of metrics) {
      for (const field of ["epoch", "loss", "reconstruction", "classification", "lr", "clips_per_s", "data_wait_ms", "step_ms"]) {
        assert.equal(typeof m[field], "number", field);
        assert.ok(Number.isFinite(m[field]), field);
      }
    }
    assert.deepEqual(JSON.parse(readFileSync(join(out, "spec.json"), "utf8")), tiny(3));
    assert.ok(existsSync(join(out, "dead-letter.jsonl")));
    assert.equal(JSON.parse(readFileSync(join(out, "checkpoints", "latest.json"), "utf8")).step, 3);
  });

  it("resume continues exactly: 2 steps + resume to 4 gives the losses of 4 steps in one go", async () => {
    const straight = join(work, "straight");
    await pretrain({ spec: tiny(4), out: straight, workers: 0, log: quiet, progress: false });
    const split = join(work, "split");
    await pretrain({ spec: tiny(2), out: split, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: tiny(4), out: split, resume: true, workers: 0, log: quiet, progress: false });
    const a = lines(join(straight, "metrics.jsonl")).map((m) => m.loss);
    const b = lines(join(split, "metrics.jsonl")).map((m) => m.loss);
    assert.deepEqual(b, a);
  });

  it("the trainer's own thread (the default) and the calling thread train identically, checkpoints included", async () => {
    const here = join(work, "here");
    await pretrain({ spec: tiny(4), out: here, workers: 0, log: quiet, progress: false, trainerThread: false });
    const threaded = lines(join(work, "straight", "metrics.jsonl"));
    const local = lines(join(here, "metrics.jsonl"));
    assert.deepEqual(local.map((m) => [m.loss, m.lr]), threaded.map((m) => [m.loss, m.lr]));
    const a = await readCheckpoint(here);
    const b = await readCheckpoint(join(work, "straight"));
    assert.deepEqual([...a.state.tensors.keys()], [...b.state.tensors.keys()]);
    for (const [name, tensor] of a.state.tensors) assert.deepEqual(tensor.data, b.state.tensors.get(name)!.data, name);
  });

  it("two replicas (second half of each batch in a worker thread) train and resume exactly", async () => {
    const withReplicas = (steps: number) => parsePipelineSpec({ ...tiny(steps), train: { ...(tiny(steps).train as object), replicas: 2 } });
    const straight = join(work, "replicas-straight");
    await pretrain({ spec: withReplicas(4), out: straight, workers: 0, log: quiet, progress: false });
    const split = join(work, "replicas-split");
    await pretrain({ spec: withReplicas(2), out: split, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: withReplicas(4), out: split, resume: true, workers: 0, log: quiet, progress: false });
    const a = lines(join(straight, "metrics.jsonl")).map((m) => m.loss);
    assert.equal(a.length, 4);
    assert.deepEqual(lines(join(split, "metrics.jsonl")).map((m) => m.loss), a);
    // One replica and two see the same data; only BatchNorm's per-half statistics differ.
    const single = lines(join(work, "straight", "metrics.jsonl")).map((m) => m.loss);
    assert.ok(Math.abs(a[0]! - single[0]!) / single[0]! < 0.05, `${a[0]} vs ${single[0]}`);
    // the default, auto, is two replicas for PRP on this machine's cores, and says so
    const raw = structuredClone(tiny(4)) as { train: Record<string, unknown> };
    delete raw.train.replicas;
    const logged: string[] = [];
    await pretrain({ spec: parsePipelineSpec(raw), out: join(work, "replicas-auto"), workers: 0, log: (line) => logged.push(line), progress: false });
    const expected = availableParallelism() >= 2 ? a : single;
    assert.deepEqual(lines(join(work, "replicas-auto", "metrics.jsonl")).map((m) => m.loss), expected);
    assert.ok(logged.some((line) => line.startsWith(`train.replicas auto: ${availableParallelism() >= 2 ? 2 : 1}`)), logged.join("\n"));
  });

  it("cancelling (Ctrl-C) leaves a checkpoint at the last finished step, and --resume continues from it", async () => {
    const out = join(work, "cancelled");
    const controller = new AbortController();
    const poll = setInterval(() => {
      if (existsSync(join(out, "metrics.jsonl")) && readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").length >= 2) controller.abort();
    }, 20);
    const result = await pretrain({ spec: tiny(40), out, workers: 1, log: quiet, progress: false, signal: controller.signal }).finally(() => clearInterval(poll));
    assert.equal(result.status, "cancelled");
    assert.ok(result.steps >= 2 && result.steps < 40, `${result.steps} steps`);
    const { meta } = await readCheckpoint(out);
    assert.equal(meta.step, result.steps);
    assert.equal(lines(join(out, "metrics.jsonl")).length, result.steps);
    const resumed = await pretrain({ spec: tiny(result.steps + 1), out, resume: true, workers: 0, log: quiet, progress: false });
    assert.equal(resumed.status, "completed");
    assert.equal(resumed.steps, result.steps + 1);
  });

  it("refuses to overwrite a run without --resume, and a resume with another architecture", async () => {
    const out = join(work, "run");
    await assert.rejects(pretrain({ spec: tiny(3), out, workers: 0, log: quiet, progress: false }), (e: unknown) => e instanceof ClipflowError && e.field === "--out");
    const other = parsePipelineSpec({ ...tiny(5), train: { ...(tiny(5).train as object), task: { kind: "prp", backbone: { name: "c3d", width: 0.0625 } } } });
    await assert.rejects(pretrain({ spec: other, out, resume: true, workers: 0, log: quiet, progress: false }), (e: unknown) => e instanceof ClipflowError && e.tag === "CheckpointError");
  });

  it("refuses data with fewer videos than one batch", async () => {
    const empty = join(work, "empty.txt");
    writeFileSync(empty, "");
    writeFileSync(join(work, "classInd.txt"), "1 A\n");
    const spec = parsePipelineSpec(prpSpec({ data: empty, steps: 1, batch: 2 }));
    await assert.rejects(pretrain({ spec, out: join(work, "none"), workers: 0, log: quiet, progress: false }), /fewer samples than one batch/);
  });

  it("evaluates trained and random-init encoders (retrieval R@k and linear probe), and extracts HDF5 features", async () => {
    const out = join(work, "run");
    const common = { checkpoint: out, train: join(data, "trainlist01.txt"), test: join(data, "testlist01.txt"), kinds: ["retrieval", "linear"] as Array<"retrieval" | "linear">, clips: 2, workers: 0, probeEpochs: 5 };
    const trained = await evaluate(common);
    const random = await evaluate({ ...common, randomInit: true });
    for (const result of [trained, random]) {
      assert.equal(result.trainVideos, 6);
      assert.equal(result.testVideos, 6);
      for (const key of ["R@1", "R@5", "R@10", "R@20", "R@50", "accuracy"]) assert.ok(typeof result[key] === "number" && (result[key] as number) >= 0 && (result[key] as number) <= 1, key);
    }
    assert.equal(trained.randomInit, false);
    assert.equal(random.randomInit, true);
    // --init-seed: the run's own seed gives the default baseline exactly; it belongs to --random-init only
    const { spec: runSpec } = await specOfCheckpoint(out);
    assert.deepEqual(await evaluate({ ...common, randomInit: true, initSeed: runSpec.seed }), random);
    await assert.rejects(evaluate({ ...common, initSeed: 3 }), (e: unknown) => e instanceof ClipflowError && e.field === "--init-seed");

    // eval compare: the same run twice against init seeds 0–3; seed 3 is the run's, so its retrieval is the baseline's above
    const json = join(work, "compare.json");
    const evalArgs = ["--train", common.train, "--test", common.test, "--clips", "2", "--workers", "0", "--epochs", "5"];
    const compared = clipflow("eval", "compare", "--checkpoint", out, "--checkpoint", out, "--random-inits", "4", "--resamples", "50", "--out", json, ...evalArgs);
    assert.equal(compared.status, 0, compared.stderr);
    const c = JSON.parse(readFileSync(json, "utf8")) as Comparison;
    assert.deepEqual(c.encoders.map((e) => [e.name, e.randomInit]), [["run", false], ["run", false], ["init seed 0", true], ["init seed 1", true], ["init seed 2", true], ["init seed 3", true]]);
    for (const k of ["R@1", "R@5", "R@10"]) {
      assert.equal(c.encoders[0]!.scores[k], trained[k]);
      assert.equal(c.encoders[5]!.scores[k], random[k]);
      assert.equal(c.pretrained[k]!.sd, 0);
      assert.equal(c.margin[k]!.mean, (trained[k] as number) - c.encoders.slice(2).reduce((sum, e) => sum + e.scores[k]!, 0) / 4);
    }
    assert.match(compared.stderr, /random init mean ± sd/);
    const twoForOne = clipflow("eval", "retrieval", "--checkpoint", out, "--checkpoint", out, ...evalArgs);
    assert.notEqual(twoForOne.status, 0);
    assert.match(twoForOne.stderr, /one --checkpoint \(several are for eval compare\)/);
    const none = clipflow("eval", "compare", ...evalArgs);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /--checkpoint is required/);

    const h5 = join(work, "features.h5");
    const run = clipflow("extract", "--checkpoint", out, "--data", join(data, "testlist01.txt"), "--out", h5, "--clips", "3", "--workers", "0");
    assert.equal(run.status, 0, run.stderr);
    const read = await readFeaturesH5(h5);
    assert.equal(read.size, 6);
    for (const value of read.values()) assert.equal(value.shape[0], 3);
    // Dense features: 30-frame videos, 16-frame clips, one every 8 frames → starts 0 and 8.
    const dense = join(work, "dense.h5");
    const denseRun = clipflow("extract", "--checkpoint", out, "--data", join(data, "testlist01.txt"), "--out", dense, "--stride", "8", "--workers", "0");
    assert.equal(denseRun.status, 0, denseRun.stderr);
    for (const value of (await readFeaturesH5(dense)).values()) assert.equal(value.shape[0], 2);
  });
});

describe("pretrain (VTDL: triplets, TCA, momentum encoder, queue)", () => {
  const vtdl = (steps: number) =>
    parsePipelineSpec(
      (() => {
        const raw = vtdlSpec({ data: join(data, "trainlist01.txt"), steps, epochs: 10, batch: 2, width: 0.0625, size: 32, seed: 4, frames: 8 }) as { train: { task: Record<string, unknown> } };
        raw.train.task.queueSize = 16;
        return raw;
      })(),
    );

  it("trains, checkpoints the key encoder and the queue, and resumes exactly", async () => {
    const straight = join(work, "vtdl-straight");
    const result = await pretrain({ spec: vtdl(4), out: straight, workers: 0, log: quiet, progress: false });
    assert.equal(result.steps, 4);
    const metrics = lines(join(straight, "metrics.jsonl"));
    for (const m of metrics) assert.ok(Number.isFinite(m.nce) && m.nce! > 0);
    const { meta, state } = await readCheckpoint(straight);
    assert.deepEqual(state.tensors.get("task/queue")?.shape, [16, 128]);
    assert.ok([...state.tensors.keys()].some((name) => name.startsWith("task/key.backbone.")));
    assert.deepEqual(meta.scalars.task, { queuePointer: 8, queueFilled: 8 });
    const split = join(work, "vtdl-split");
    await pretrain({ spec: vtdl(2), out: split, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: vtdl(4), out: split, resume: true, workers: 0, log: quiet, progress: false });
    assert.deepEqual(lines(join(split, "metrics.jsonl")).map((m) => m.loss), metrics.map((m) => m.loss));
  });

  it("two replicas exchange the keys they enqueue: the queue holds the whole batch's, and resume is exact", async () => {
    const replicated = (steps: number, replicas: number) => parsePipelineSpec({ ...vtdl(steps), train: { ...(vtdl(steps).train as object), replicas } });
    const straight = join(work, "vtdl-replicas");
    await pretrain({ spec: replicated(4, 2), out: straight, workers: 0, log: quiet, progress: false });
    const losses = lines(join(straight, "metrics.jsonl")).map((m) => m.loss);
    assert.deepEqual((await readCheckpoint(straight)).meta.scalars.task, { queuePointer: 8, queueFilled: 8 });
    // the resumed replica starts from the main thread's queue: a replica that had enqueued differently would now differ
    const split = join(work, "vtdl-replicas-split");
    await pretrain({ spec: replicated(2, 2), out: split, workers: 0, log: quiet, progress: false });
    await pretrain({ spec: replicated(4, 2), out: split, resume: true, workers: 0, log: quiet, progress: false });
    assert.deepEqual(lines(join(split, "metrics.jsonl")).map((m) => m.loss), losses);
    // one replica in micro-batches of one clip groups BatchNorm's statistics the same way: the same run up to rounding
    const single = join(work, "vtdl-single");
    const micro = parsePipelineSpec({ ...vtdl(4), train: { ...(vtdl(4).train as object), replicas: 1, microBatch: 1 } });
    await pretrain({ spec: micro, out: single, workers: 0, log: quiet, progress: false });
    lines(join(single, "metrics.jsonl")).forEach((m, i) => assert.ok(Math.abs(m.loss! - losses[i]!) < 1e-4 * losses[i]!, `step ${i + 1}: ${m.loss} vs ${losses[i]}`));
    const queues = await Promise.all([single, straight].map(async (out) => (await readCheckpoint(out)).state.tensors.get("task/queue")!.data));
    assert.ok(queues[0]!.every((v, i) => Math.abs(v - queues[1]![i]!) < 1e-4), "the same keys in the same queue slots");
  });

  it("evaluates with the run's normalisation and geometry (ImageNet mean/std, stride 4, centre crop)", async () => {
    const result = await evaluate({ checkpoint: join(work, "vtdl-straight"), train: join(data, "trainlist01.txt"), test: join(data, "testlist01.txt"), kinds: ["retrieval"], protocol: "coclr", clips: 2, workers: 0 });
    assert.equal(result.testVideos, 6);
    assert.equal(result.dim, 32);
  });
});

describe("pretrain (CoCLR stage 1: RGB InfoNCE on two clips)", () => {
  it("trains on two independently augmented clips with the MLP head, and evaluates with the CoCLR protocol", async () => {
    const raw = coclrSpec({ data: join(data, "trainlist01.txt"), steps: 2, epochs: 5, batch: 2, width: 0.0625, size: 32, frames: 8, backbone: "r3d", seed: 5 }) as { train: { task: Record<string, unknown> } };
    raw.train.task.queueSize = 16;
    const out = join(work, "coclr");
    const result = await pretrain({ spec: parsePipelineSpec(raw), out, workers: 0, log: quiet, progress: false });
    assert.equal(result.steps, 2);
    const { state } = await readCheckpoint(out);
    assert.deepEqual(state.tensors.get("model/projection.fc1.weight")?.shape, [32, 1024]);
    assert.deepEqual(state.tensors.get("task/queue")?.shape, [16, 128]);
    const evaluated = await evaluate({ checkpoint: out, train: join(data, "trainlist01.txt"), test: join(data, "testlist01.txt"), kinds: ["retrieval"], protocol: "coclr", clips: 2, workers: 0 });
    assert.equal(evaluated.testVideos, 6);
  });
});

describe("pretrain (CoCLR stage 1 on flow)", () => {
  it("trains on two flow clips from the cache `clipflow flow` filled, and on flow computed online", async () => {
    const flowRoot = join(work, "flow-cache");
    const made = clipflow("flow", "--data", join(data, "trainlist01.txt"), "--out", flowRoot, "--method", "fast", "--size", "32", "--format", "png", "--workers", "1");
    assert.equal(made.status, 0, made.stderr);
    const cacheDir = /→ (.*)\n/.exec(made.stdout)?.[1] as string;
    for (const flow of [cacheDir, "online"]) {
      const raw = coclrSpec({ data: join(data, "trainlist01.txt"), steps: 2, batch: 2, width: 0.0625, size: 32, frames: 6, backbone: "r3d", seed: 5, flow }) as {
        stages: Array<Record<string, unknown>>;
        train: { task: Record<string, unknown> };
      };
      assert.equal(raw.stages[1]?.stage, "flowPair");
      raw.train.task.queueSize = 16;
      const out = join(work, `coclr-flow-${flow === "online" ? "online" : "cache"}`);
      const result = await pretrain({ spec: parsePipelineSpec(raw), out, workers: 0, log: quiet, progress: false });
      assert.equal(result.steps, 2);
      assert.equal(readFileSync(join(out, "dead-letter.jsonl"), "utf8").trim(), "");
      const lines = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { loss: number });
      assert.ok(lines.every((line) => Number.isFinite(line.loss)));
    }
  });
});

describe("pretrain CLI errors name the field", () => {
  it("unknown pipeline, missing spec file, invalid JSON, bad field in a spec", () => {
    const unknown = clipflow("pretrain", "--pipeline", "nope", "--data", data, "--out", join(work, "x"));
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /--pipeline: unknown pipeline "nope"/);
    const missing = clipflow("pretrain", "--pipeline", join(work, "missing.json"), "--out", join(work, "x"));
    assert.match(missing.stderr, /MissingFile \[file .*missing\.json \| field --pipeline\]: cannot read the spec/);
    writeFileSync(join(work, "bad.json"), "{ not json");
    assert.match(clipflow("pretrain", "--pipeline", join(work, "bad.json"), "--out", join(work, "x")).stderr, /SpecError .*bad\.json is not valid JSON/);
    const spec = tiny(1) as unknown as { train: { optimizer: { lr: number } } };
    spec.train.optimizer.lr = -1;
    writeFileSync(join(work, "neg.json"), JSON.stringify(spec));
    const neg = clipflow("pretrain", "--pipeline", join(work, "neg.json"), "--out", join(work, "x"));
    assert.equal(neg.status, 1);
    assert.match(neg.stderr, /train\.optimizer\.lr/);
  });
});
