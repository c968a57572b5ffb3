import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ClipflowError } from "../../src/core/errors.ts";
import { clipIndices, type ClipSamplerConfig } from "../../src/kernels/clipIndices.ts";

const base: ClipSamplerConfig = { numFrames: 16, stride: 4, numClips: 1, start: "random", jitter: 0, outOfBounds: "error" };
const run = (frameCount: number, config: Partial<ClipSamplerConfig>, seed = 0, sourceFps = 30) =>
  clipIndices({ frameCount, sourceFps, config: { ...base, ...config }, seed });

test("random clips stay inside the video with the exact stride, and depend only on the seed", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 2 ** 31 }), (numFrames, stride, extra, seed) => {
      const n = (numFrames - 1) * stride + 1 + extra;
      const [clip] = run(n, { numFrames, stride }, seed);
      assert.ok(clip);
      assert.equal(clip.length, numFrames);
      assert.ok((clip[0] as number) >= 0 && (clip.at(-1) as number) < n);
      for (let k = 1; k < clip.length; k++) assert.equal((clip[k] as number) - (clip[k - 1] as number), stride);
      assert.deepEqual(run(n, { numFrames, stride }, seed), [clip]);
    }),
    { numRuns: 300, seed: 7 },
  );
});

test("uniform spreads clips from the first to the last valid start; centre takes the middle; explicit as given", () => {
  assert.deepEqual(run(100, { numFrames: 4, stride: 2, numClips: 3, start: "uniform" }).map((c) => c[0]), [0, 47, 93]);
  assert.deepEqual(run(100, { numFrames: 4, stride: 2, start: "centre" }), [[46, 48, 50, 52]]);
  assert.deepEqual(run(100, { numFrames: 2, stride: 1, start: "explicit", starts: [5, 90] }), [[5, 6], [90, 91]]);
  assert.throws(() => run(100, { start: "explicit" }), /start "explicit" needs starts/);
});

test("target fps resamples: 16 frames at 15 fps from a 30 fps video step by 2 source frames", () => {
  assert.deepEqual(run(200, { numFrames: 4, stride: 1, targetFps: 15, start: "explicit", starts: [10] }), [[10, 12, 14, 16]]);
});

test("jitter moves starts by at most ±jitter and stays valid", () => {
  for (let seed = 0; seed < 50; seed++) {
    const start = run(100, { numFrames: 4, stride: 1, start: "centre", jitter: 3 }, seed)[0]?.[0] as number;
    assert.ok(start >= 45 && start <= 51, `start ${start}`);
  }
});

test("out of bounds: wrap (VTDL), repeat the last frame, error, or skip the clip", () => {
  const short = { numFrames: 4, stride: 4, start: "explicit" as const, starts: [0] };
  assert.deepEqual(run(10, { ...short, outOfBounds: "wrap" }), [[0, 4, 8, 2]]);
  assert.deepEqual(run(10, { ...short, outOfBounds: "repeatLast" }), [[0, 4, 8, 9]]);
  assert.throws(() => run(10, { ...short, outOfBounds: "error" }), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort" && e.message === "a clip of 4 frames at step 4 needs 13 frames, the video has 10");
  assert.deepEqual(run(20, { numFrames: 4, stride: 4, start: "explicit", starts: [0, 10], outOfBounds: "skip" }), [[0, 4, 8, 12]]);
  assert.throws(() => run(10, { ...short, outOfBounds: "skip" }), /no clip of 13 frames fits in 10 frames/);
  assert.throws(() => run(0, {}), /the video has no frames/);
});

test("sliding starts: a clip every `every` frames from 0 while it fits; numClips ignored; every is required", () => {
  const base = { numFrames: 4, stride: 2, numClips: 99, jitter: 0, outOfBounds: "error" as const };
  const clips = clipIndices({ frameCount: 20, sourceFps: 30, seed: 1, config: { ...base, start: "sliding", every: 5 } });
  assert.deepEqual(clips.map((c) => c[0]), [0, 5, 10]);
  assert.deepEqual(clips[2], [10, 12, 14, 16]);
  assert.throws(() => clipIndices({ frameCount: 20, sourceFps: 30, seed: 1, config: { ...base, start: "sliding" } }), /needs every >= 1/);
});

test("seconds starts: converted with the source frame rate and clamped to valid starts; startSeconds is required", () => {
  const base = { numFrames: 4, stride: 1, numClips: 1, jitter: 0, targetFps: 15, outOfBounds: "error" as const };
  const clips = clipIndices({ frameCount: 90, sourceFps: 30, seed: 1, config: { ...base, start: "seconds", startSeconds: [0.5, 1.01, 10] } });
  assert.deepEqual(clips, [[15, 17, 19, 21], [30, 32, 34, 36], [83, 85, 87, 89]]);
  assert.throws(() => clipIndices({ frameCount: 90, sourceFps: 30, seed: 1, config: { ...base, start: "seconds" } }), /needs startSeconds/);
});
