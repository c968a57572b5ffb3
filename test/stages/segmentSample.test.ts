import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { createCpuPool } from "../../src/core/cpuPool.ts";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { chain } from "../../src/core/pipeline.ts";
import { runPipeline } from "../../src/core/runner.ts";
import type { Sample } from "../../src/core/types.ts";
import { openDataset } from "../../src/io/datasets.ts";
import { synthesize } from "../../src/io/synth.ts";
import { listSource } from "../../src/stages/listSource.ts";
import { segmentSample } from "../../src/stages/segmentSample.ts";
import { videos as videosSource } from "../../src/stages/videos.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("segmentSample: 5 clips per long-enough segment, 16 frames at 15 fps inside the segment, action/region targets", async () => {
  const dir = join(tempDir("clipflow-tsp-"), "untrimmed");
  await synthesize({ out: dir, kind: "untrimmed", videos: 2, seed: 5, width: 64, height: 48, seconds: 8, classes: 3 });
  const dataset = openDataset(join(dir, "annotations.csv"));
  const videos = dataset.videos;
  const samples: Sample[] = [];
  const cpu = createCpuPool(0);
  const deadLetters = new DeadLetterSink();
  await runPipeline(chain(videosSource({ data: join(dir, "annotations.csv") }), segmentSample({ width: 32, height: 24 })), (sample) => void samples.push(sample as Sample), { cpu, deadLetters });
  await cpu.close();
  assert.equal(deadLetters.total, 0, deadLetters.summary());
  const expected = videos.reduce((n, v) => n + 5 * (v.segments ?? []).filter((s) => s.end - s.start >= 16 / 15).length, 0);
  assert.ok(expected > 0);
  assert.equal(samples.length, expected);
  for (const sample of samples) {
    const video = videos.find((v) => v.id === sample.videoId)!;
    const segment = video.segments![sample.meta.segment as number]!;
    const rgb = sample.views.rgb!;
    assert.deepEqual(rgb.shape, [16, 24, 32, 3]);
    const fps = rgb.fps!;
    for (let k = 1; k < 16; k += 1) assert.equal(rgb.indices[k]! - rgb.indices[k - 1]!, Math.round(fps / 15));
    assert.ok(rgb.indices[0]! >= Math.floor(segment.start * fps) - 1 && rgb.indices[15]! <= Math.ceil(segment.end * fps) + 1, `${rgb.indices[0]}..${rgb.indices[15]} in ${segment.start}-${segment.end}s`);
    assert.equal(sample.targets.region, segment.region === "Action" ? 1 : 0);
    assert.equal(sample.targets.action, segment.region === "Action" ? segment.label : -1);
  }
});

test("segmentSample: a video without segments is a BadAnnotation dead letter", async () => {
  const cpu = createCpuPool(0);
  const deadLetters = new DeadLetterSink();
  await runPipeline(chain(listSource({ items: [{ id: "x", uri: "/nonexistent.mp4" }] }), segmentSample({})), () => undefined, { cpu, deadLetters });
  await cpu.close();
  assert.equal(deadLetters.records[0]?.error, "BadAnnotation");
});
