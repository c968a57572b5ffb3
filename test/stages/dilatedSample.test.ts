import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { listFolder } from "../../src/io/datasets.ts";
import { dilatedSample } from "../../src/stages/dilatedSample.ts";
import { cropWindow } from "../../src/io/decoders/types.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { testContext } from "../helpers/context.ts";
import { synthesize } from "../../src/io/synth.ts";
import { tempDir } from "../helpers/tempDir.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";

test("dilatedSample on real videos: encoder clip, target with flags and motion weight, aligned", async () => {
  const videos = listFolder(await tinyActions()).videos.slice(0, 3);
  const stage = dilatedSample({ rates: [1], width: 40, height: 32, crop: [28, 28], patch: 7, poolStride: 2, clipView: true });
  const samples = await lastValueFrom(of(...videos).pipe(stage.apply(testContext({ seed: 4 })), toArray()));
  assert.equal(samples.length, 3);
  for (const sample of samples) {
    const { rgb, target, motion } = sample.views;
    assert.ok(rgb && target && motion);
    assert.deepEqual(rgb.shape, [16, 28, 28, 3]);
    assert.deepEqual(target.shape, [32, 28, 28, 3]);
    assert.deepEqual(motion.shape, [32, 11, 11, 3], "cell resolution: (28 − 7) / 2 + 1 cells per side");
    assert.equal(sample.targets.rate, 0);
    assert.deepEqual([...(sample.targets.flags as Float32Array)], Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? 1 : 0)));
    const frame = 28 * 28 * 3;
    for (let k = 0; k < 16; k++) {
      for (let i = 0; i < frame; i += 97) {
        assert.equal(target.data[2 * k * frame + i], rgb.data[k * frame + i], "real frames are the clip's bytes");
        const next = rgb.data[Math.min(k + 1, 15) * frame + i] as number;
        assert.equal(target.data[(2 * k + 1) * frame + i], ((rgb.data[k * frame + i] as number) + next + 1) >> 1, "averages round half up");
      }
    }
    assert.ok(target.data instanceof Uint8Array);
    assert.ok((motion.data as Float32Array).every((v) => v >= 0.8 - 1e-6 && v <= 2 + 1e-6));
    assert.deepEqual(rgb.indices, Array.from({ length: 16 }, (_, k) => (sample.meta.start as number) + k));
  }
});

test("by default the encoder clip is not sent: it is the target's even frames, byte for byte, at every rate", async () => {
  const dir = tempDir("clipflow-dilated-");
  await synthesize({ out: dir, kind: "actions", videos: 2, seed: 3, width: 64, height: 48, seconds: 3, classes: 2 });
  const videos = listFolder(dir).videos;
  const config = { rates: [1, 2, 4], shortVideo: "lowerRate" as const, width: 40, height: 32, crop: [28, 28] as [number, number], patch: 7, poolStride: 2 };
  const run = (clipView: boolean) => lastValueFrom(of(...videos, ...videos, ...videos).pipe(dilatedSample({ ...config, clipView }).apply(testContext({ seed: 9 })), toArray()));
  const [lean, full] = [await run(false), await run(true)];
  assert.equal(lean.length, 6);
  const frame = 28 * 28 * 3;
  for (const [i, sample] of lean.entries()) {
    const other = full[i]!;
    assert.equal(sample.views.rgb, undefined);
    assert.deepEqual(sample.meta, other.meta, "same draws");
    assert.deepEqual(sample.views.target!.data, other.views.target!.data);
    const rgb = other.views.rgb!.data;
    const target = sample.views.target!.data;
    for (let k = 0; k < 16; k++) assert.deepEqual(target.subarray(2 * k * frame, (2 * k + 1) * frame), rgb.subarray(k * frame, (k + 1) * frame), `rate ${sample.meta.rate}, clip frame ${k}`);
  }
  assert.ok(new Set(lean.map((s) => s.meta.rate)).size > 1, "several rates drawn");
});

test("a rate the video is too short for is a TooShort dead letter (or a lower rate when asked)", async () => {
  const videos = listFolder(await tinyActions()).videos.slice(0, 2); // 30 frames: rate 2 needs 33
  const deadLetters = new DeadLetterSink();
  const ctx = { ...testContext(), deadLetters };
  const strict = await lastValueFrom(of(...videos).pipe(dilatedSample({ rates: [2], width: 40, height: 32, crop: [28, 28] }).apply(ctx), toArray()));
  assert.equal(strict.length, 0);
  assert.deepEqual(deadLetters.records.map((r) => [r.error, r.message]), videos.map(() => ["TooShort", "rate 2 needs 33 frames, the video has 30"]));
  const lenient = await lastValueFrom(of(...videos).pipe(dilatedSample({ rates: [1, 2], shortVideo: "lowerRate", width: 40, height: 32, crop: [28, 28] }).apply(testContext()), toArray()));
  assert.ok(lenient.every((s) => s.meta.rate === 1));
});

test("cropPosition random: each sample's target is its own window of the resized frames, drawn per sample", async () => {
  const dir = tempDir("clipflow-dilated-crop-");
  await synthesize({ out: dir, kind: "actions", videos: 6, seed: 5, width: 64, height: 48, seconds: 3, classes: 2 });
  const videos = listFolder(dir).videos;
  const base = { rates: [1, 2], shortVideo: "lowerRate" as const, width: 40, height: 32, patch: 7, poolStride: 2 };
  const run = (extra: object) => lastValueFrom(of(...videos).pipe(dilatedSample({ ...base, ...extra }).apply(testContext({ seed: 11 })), toArray()));
  const whole = await run({ crop: [40, 32] });
  const cropped = await run({ crop: [28, 28], cropPosition: "random" });
  const places = new Set<string>();
  for (const [i, sample] of cropped.entries()) {
    const full = whole[i]!;
    assert.deepEqual([sample.meta.rate, sample.meta.start], [full.meta.rate, full.meta.start], "the crop draw leaves rate and start as they were");
    const [x, y] = sample.meta.cropAt as [number, number];
    assert.ok(x >= 0 && x <= 12 && y >= 0 && y <= 4, `window (${x}, ${y}) inside the 40×32 frame`);
    places.add(`${x},${y}`);
    const target = sample.views.target!;
    assert.deepEqual(target.shape, [32, 28, 28, 3]);
    for (let t = 0; t < 32; t += 5) {
      for (let row = 0; row < 28; row += 9) {
        const from = ((t * 32 + y + row) * 40 + x) * 3;
        assert.deepEqual(target.data.subarray((t * 28 + row) * 28 * 3, (t * 28 + row + 1) * 28 * 3), full.views.target!.data.subarray(from, from + 28 * 3), `frame ${t}, row ${row}`);
      }
    }
    assert.deepEqual(sample.views.motion!.shape, [32, 11, 11, 3], "the motion map is computed on the cropped frames");
  }
  assert.equal(cropped.length, 6);
  assert.ok(places.size >= 4, `positions vary across samples (${places.size} distinct)`);
  const centred = await run({ crop: [28, 28] });
  assert.ok(centred.every((s) => s.meta.cropAt === undefined));
  assert.deepEqual(centred[0]!.views.target!.data.subarray(0, 28 * 3), whole[0]!.views.target!.data.subarray((2 * 40 + 6) * 3, (2 * 40 + 6 + 28) * 3), "centre: (6, 2)");
});

test("a random crop larger than the resized frame is a ConfigError; so is a crop placed outside it", async () => {
  const videos = listFolder(await tinyActions()).videos.slice(0, 1);
  const deadLetters = new DeadLetterSink();
  const out = await lastValueFrom(of(...videos).pipe(dilatedSample({ rates: [1], width: 40, height: 32, crop: [48, 28], cropPosition: "random" }).apply({ ...testContext(), deadLetters }), toArray()));
  assert.equal(out.length, 0);
  assert.deepEqual(deadLetters.records.map((r) => [r.error, r.message]), [["ConfigError", "crop 48×28 is larger than the frame 40×32"]]);
  assert.throws(() => cropWindow(40, 32, { crop: [28, 28], cropAt: [13, 0] }, "v.mp4"), (e: unknown) => e instanceof ClipflowError && e.tag === "ConfigError" && /crop 28×28 at \(13, 0\) does not fit the resized frame 40×32/.test(e.message) && e.field === "geometry.cropAt");
  assert.deepEqual(cropWindow(40, 32, { crop: [28, 28], cropAt: [12, 4] }, "v.mp4"), [12, 4, 28, 28]);
});
