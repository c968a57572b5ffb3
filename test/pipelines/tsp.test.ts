import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { rngFromSeed } from "../../src/core/rng.ts";
import { openDataset } from "../../src/io/datasets.ts";
import { writeFeaturesH5 } from "../../src/io/featureFile.ts";
import { synthesize } from "../../src/io/synth.ts";
import { buildTrainer } from "../../src/models/trainerHandle.ts";
import { batchesPerEpoch, pretrain } from "../../src/pipelines/pretrain.ts";
import { extractFeatures } from "../../src/pipelines/features.ts";
import { specOfCheckpoint } from "../../src/pipelines/evaluate.ts";
import { readCheckpoint } from "../../src/io/checkpoint.ts";
import { tspSpec } from "../../src/pipelines/tsp.ts";
import { compilePipelineSpec, parsePipelineSpec } from "../../src/stages/index.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { evaluateLocalisation, regionScores } from "../../src/pipelines/localisation.ts";
import { tempDir } from "../helpers/tempDir.ts";

let work = "";
let annotations = "";
const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((line) => JSON.parse(line) as Record<string, number>);
const spec = (gvf: string | undefined, steps: number | undefined, epochs?: number) =>
  parsePipelineSpec(tspSpec({ data: annotations, classes: 3, gvf, steps, epochs, batch: 4, width: 0.0625, size: 32, frames: 8, backbone: "r3d", lr: 0.01 }));

before(async () => {
  work = tempDir("clipflow-tsp-");
  const data = join(work, "untrimmed");
  await synthesize({ out: data, kind: "untrimmed", videos: 2, seed: 9, width: 64, height: 48, seconds: 8, classes: 3 });
  annotations = join(data, "annotations.csv");
});

describe("TSP pipeline (segment-balanced clips, action + region heads, GVF)", () => {
  it("trains with GVF from an HDF5 file: action and region terms, stem frozen", async () => {
    const rng = rngFromSeed(2);
    const ids = openDataset(annotations).videos.map((video) => video.id);
    const h5 = join(work, "gvf.h5");
    // 32 = channels of R3D at width 1/16; three clip features per video, max-pooled by the gvf stage.
    const perClip = ids.map((name) => ({ name, data: Float32Array.from({ length: 3 * 32 }, () => rng.normal()), shape: [3, 32] as [number, number] }));
    await writeFeaturesH5(h5, perClip, []);
    const out = join(work, "tsp");
    const result = await pretrain({ spec: spec(h5, 3), out, workers: 0, log: () => undefined, progress: false });
    assert.equal(result.steps, 3);
    const metrics = lines(join(out, "metrics.jsonl"));
    for (const m of metrics) {
      assert.ok(Number.isFinite(m.action) && Number.isFinite(m.region), JSON.stringify(m));
      assert.ok(Math.abs(m.action! + m.region! - m.loss!) < 1e-5);
    }
    // Warm-up over 2 epochs whose length the plan gives before any decode: every segment of at least one clip
    // (8 frames at 15 fps) gives 5 clips; the rate rises by base / (2 · batches per epoch) a step, never past the base.
    const clips = openDataset(annotations).videos.reduce((sum, video) => sum + 5 * video.segments!.filter((g) => g.end - g.start >= 8 / 15).length, 0);
    const perEpoch = batchesPerEpoch(compilePipelineSpec(spec(h5, 3)).pipeline.stages, 4);
    assert.equal(perEpoch, Math.floor(clips / 4));
    assert.ok(perEpoch! > 3);
    metrics.forEach((m, i) => assert.ok(Math.abs(m.lr! - (0.01 * (i + 1)) / (2 * perEpoch!)) < 1e-9, `step ${i + 1}: lr ${m.lr}`));
    // The stem is frozen (group "stem" at 0×): its weights are still the initial ones; a head's are not.
    const { state } = await readCheckpoint(out);
    const fresh = await buildTrainer(spec(h5, 3));
    const initial = (name: string) => Array.from(fresh.task.store.params.get(name)!.variable.dataSync());
    assert.deepEqual(Array.from(state.tensors.get("model/backbone.stem.conv.weight")!.data), initial("backbone.stem.conv.weight"));
    assert.notDeepEqual(Array.from(state.tensors.get("model/actionHead.weight")!.data), initial("actionHead.weight"));
    fresh.task.dispose();
    fresh.optimizer.dispose();
  });

  it("extracts dense localisation features with the run's clip geometry (8 frames at 15 fps, a clip every 16 frames)", async () => {
    const { spec: runSpec, dir } = await specOfCheckpoint(join(work, "tsp"));
    const features = await extractFeatures({ spec: runSpec, checkpoint: dir, data: annotations, stride: 16, protocol: "coclr", workers: 0 });
    assert.equal(features.ids.length, 2);
    // 8 s at 30 fps = 240 frames; 8-frame clips at 15 fps span 15 frames: starts 0, 16, …, 224 → 15 clips.
    assert.deepEqual(features.clipCounts, [15, 15]);
    assert.equal(features.dim, 32);
  });

  it("without GVF it is TAC: action head only", async () => {
    const out = join(work, "tac");
    await pretrain({ spec: spec(undefined, 2), out, workers: 0, log: () => undefined, progress: false });
    const metrics = lines(join(out, "metrics.jsonl"));
    assert.deepEqual(Object.keys(metrics[0]!).filter((k) => ["action", "region"].includes(k)), ["action"]);
  });

  it("a video missing from the GVF file is a dead letter naming it", async () => {
    const h5 = join(work, "partial.h5");
    const second = openDataset(annotations).videos[1]!.id;
    await writeFeaturesH5(h5, [{ name: second, data: new Float32Array(32), shape: [1, 32] }], []);
    const out = join(work, "partial");
    // One whole epoch, so that every video's clips reach the gvf stage whatever the shuffled order.
    await pretrain({ spec: spec(h5, undefined, 1), out, workers: 0, log: () => undefined, progress: false });
    const letters = readFileSync(join(out, "dead-letter.jsonl"), "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as { error: string; message: string });
    assert.ok(letters.length > 0);
    assert.equal(letters[0]!.error, "BadAnnotation");
    assert.match(letters[0]!.message, /no global video feature for video "video_0000"/);
  });
});

describe("localisation evaluation (clipflow eval localisation)", () => {
  it("balanced accuracy is the mean recall of the two regions", () => {
    // truth: 3 background, 1 action; always "background" → accuracy 0.75, balanced 0.5
    assert.deepEqual(regionScores([0, 0, 0, 0], [0, 0, 0, 1]), { accuracy: 0.75, balancedAccuracy: 0.5, foreground: 0.25 });
    assert.deepEqual(regionScores([0, 1, 0, 1], [0, 0, 0, 1]), { accuracy: 0.75, balancedAccuracy: (2 / 3 + 1) / 2, foreground: 0.25 });
  });

  it("one clip per segment: a probe on pooled features, and TSP's region head when the test videos have GVF", async () => {
    const segments = readFileSync(annotations, "utf8").trim().split("\n").length - 1;
    const result = await evaluateLocalisation({ checkpoint: join(work, "tsp"), train: annotations, test: annotations, gvf: join(work, "gvf.h5"), workers: 0, probeEpochs: 20 });
    assert.equal(result.trainClips, segments);
    assert.equal(result.testClips, segments);
    assert.equal(result.deadLetters, 0);
    for (const scores of [result.probe, result.regionHead] as Array<{ accuracy: number; balancedAccuracy: number; foreground: number }>) {
      assert.ok(scores.accuracy >= 0 && scores.accuracy <= 1 && scores.balancedAccuracy >= 0 && scores.balancedAccuracy <= 1);
      assert.ok(scores.foreground > 0 && scores.foreground < 1);
    }
    const baseline = await evaluateLocalisation({ checkpoint: join(work, "tsp"), train: annotations, test: annotations, randomInit: true, workers: 0, probeEpochs: 20 });
    assert.equal(baseline.randomInit, true);
    assert.equal(baseline.regionHead, undefined);
  });

  it("a TAC run has no region head to score (ConfigError naming --gvf)", async () => {
    await assert.rejects(
      evaluateLocalisation({ checkpoint: join(work, "tac"), train: annotations, test: annotations, gvf: join(work, "gvf.h5"), workers: 0, probeEpochs: 2 }),
      (e: unknown) => e instanceof ClipflowError && e.field === "--gvf" && /TAC/.test(e.message),
    );
  });
});

