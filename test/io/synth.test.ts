import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/io/datasets.ts";
import { decodeLibav, libavInfo } from "../../src/io/decoders/libav.ts";
import { drawMotion, EDGE_SPEED, motionClasses, pose, synthesize } from "../../src/io/synth.ts";
import { rngFromString } from "../../src/core/rng.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("actions: class folders of real H.264 videos, UCF101-style names, classInd and split lists by group", async () => {
  const dir = await tinyActions();
  assert.equal(readFileSync(join(dir, "classInd.txt"), "utf8"), "1 Slide\n2 Rise\n3 Spin\n");
  const train = openDataset(join(dir, "trainlist01.txt"));
  const test_ = openDataset(join(dir, "testlist01.txt"));
  assert.equal(train.videos.length + test_.videos.length, 12);
  // groups 1 (of 2) are test, like UCF101 split 1 holding out whole groups
  assert.ok(test_.videos.every((v) => /_g01_/.test(v.id)));
  assert.ok(train.videos.every((v) => /_g02_/.test(v.id)));
  assert.deepEqual([...new Set(train.videos.map((v) => v.label))].sort(), [0, 1, 2]);
  const info = libavInfo(join(dir, "Spin", "v_Spin_g01_c01.mp4"));
  assert.deepEqual([info.width, info.height, info.fps, info.frames, info.codec], [64, 48, 30, 30, "h264"]);
});

test("the same seed gives the same pictures; motion classes move differently", async () => {
  const base = tempDir("clipflow-synth-");
  const options = { kind: "actions" as const, videos: 2, seed: 5, width: 32, height: 32, seconds: 0.5, classes: 2 };
  await synthesize({ ...options, out: join(base, "a") });
  await synthesize({ ...options, out: join(base, "b") });
  const frames = (root: string) => decodeLibav({ uri: join(root, "Slide", "v_Slide_g01_c01.mp4"), indices: [0, 7, 14] }).data;
  assert.deepEqual(frames(join(base, "a")), frames(join(base, "b")));
  const first = frames(join(base, "a"));
  const size = 32 * 32 * 3;
  let moved = 0;
  for (let i = 0; i < size; i++) moved += Math.abs((first[i] as number) - (first[2 * size + i] as number));
  assert.ok(moved / size > 1, "the object moves between frames 0 and 14");
  assert.deepEqual(motionClasses.slice(0, 3), ["Slide", "Rise", "Spin"]);
});

test("untrimmed: action segments between static stretches, annotations tile each video, metadata matches the files", async () => {
  const dir = join(tempDir("clipflow-untrimmed-"), "u");
  await synthesize({ out: dir, kind: "untrimmed", videos: 3, seed: 2, width: 48, height: 48, seconds: 6 });
  const dataset = openDataset(join(dir, "annotations.csv"));
  assert.equal(dataset.videos.length, 3);
  for (const video of dataset.videos) {
    const segments = video.segments ?? [];
    assert.equal(segments[0]?.start, 0);
    assert.equal(segments.at(-1)?.end, 6);
    for (let i = 1; i < segments.length; i++) assert.equal(segments[i]?.start, segments[i - 1]?.end);
    assert.ok(segments.some((s) => s.region === "Action" && s.label >= 0));
    assert.ok(segments.filter((s) => s.region === "No action").every((s) => s.label === -1));
    const info = libavInfo(video.uri);
    assert.equal(info.frames, video.meta?.frames);
    assert.equal(info.fps, video.meta?.fps);
  }
});

test("every class moves the object's edge at EDGE_SPEED × the video's speed, whatever its size (PRP's rate is in the pixels)", () => {
  const dt = 1e-4;
  for (const cls of motionClasses) {
    for (let n = 0; n < 5; n++) {
      const motion = drawMotion(rngFromString(`edge:${cls}:${n}`), cls);
      const speeds: number[] = [];
      for (let k = 0; k < 200; k++) {
        const t = k * 0.0153;
        const a = pose(motion, t, true);
        const b = pose(motion, t + dt, true);
        // the edge point farthest from the centre along the motion: translation + radius × (rotation or scaling) rates
        const translation = Math.hypot(b.x - a.x, b.y - a.y);
        const radius = motion.size * a.scale;
        speeds.push((translation + radius * Math.abs(b.angle - a.angle) + motion.size * Math.abs(b.scale - a.scale)) / dt);
      }
      speeds.sort((x, y) => x - y);
      const median = speeds[speeds.length >> 1]!;
      const expected = EDGE_SPEED * motion.speed;
      assert.ok(Math.abs(median - expected) < 0.01 * expected, `${cls} #${n}: edge speed ${median.toFixed(4)} vs ${expected.toFixed(4)} (size ${motion.size.toFixed(3)})`);
      assert.ok(motion.speed >= 0.8 && motion.speed <= 1.25);
    }
  }
  // a still object does not move
  const still = drawMotion(rngFromString("edge:still"), "Spin");
  assert.deepEqual(pose(still, 0.7, false), pose(still, 1.3, false));
});
