/**
 * The clip sampler: which frame indices each clip of a video reads. A clip is `numFrames` frames `stride` apart in
 * the target frame rate (30 → 15 fps doubles the step in source frames, as TSP does); `numClips` clips start by
 * policy: random (uniform over valid starts), uniform (evenly spaced, as evaluation protocols do), centre, explicit, or
 * sliding (a clip every `every` frames from frame 0, for dense localisation features as TSP extracts them), or
 * seconds (start times converted with the source frame rate, for clips placed inside annotated segments);
 * optional jitter moves each start by up to ±jitter frames. Indices past the end are wrapped (VTDL), repeat the last
 * frame, make the video an error (TooShort), or drop the clip ("skip"; no clip left is an error). Pure and seeded.
 */
import { ClipflowError } from "../core/errors.ts";
import { rngFromSeed } from "../core/rng.ts";

export interface ClipSamplerConfig {
  numFrames: number;
  stride: number;
  numClips: number;
  start: "random" | "uniform" | "centre" | "explicit" | "sliding" | "seconds";
  /** Start times in seconds (start = "seconds"), converted with the source frame rate (TSP's segment clips). */
  startSeconds?: number[] | undefined;
  /** Frames between clip starts (start = "sliding"); numClips is then ignored. */
  every?: number | undefined;
  /** Explicit start frames (start = "explicit"). */
  starts?: number[] | undefined;
  jitter: number;
  /** Resample: source and target frame rates (the step between clip frames is stride · sourceFps / targetFps). */
  targetFps?: number | undefined;
  outOfBounds: "wrap" | "repeatLast" | "error" | "skip";
}

export interface ClipIndicesInput {
  frameCount: number;
  sourceFps: number;
  config: ClipSamplerConfig;
  seed: number;
}

export function clipIndices(input: ClipIndicesInput): number[][] {
  const { frameCount: n, config } = input;
  if (!Number.isInteger(n) || n < 1) throw new ClipflowError("TooShort", `the video has no frames (${n})`);
  const step = config.stride * (config.targetFps === undefined ? 1 : input.sourceFps / config.targetFps);
  if (!(step > 0)) throw new ClipflowError("ConfigError", `clip step must be > 0, got ${step}`, { field: "sampler.stride" });
  const span = Math.round((config.numFrames - 1) * step) + 1;
  const lastStart = Math.max(0, n - span);
  const rng = rngFromSeed(input.seed);
  let starts: number[];
  switch (config.start) {
    case "random":
      starts = Array.from({ length: config.numClips }, () => rng.int(0, lastStart));
      break;
    case "uniform":
      starts = Array.from({ length: config.numClips }, (_, i) =>
        config.numClips === 1 ? Math.floor(lastStart / 2) : Math.round((i * lastStart) / (config.numClips - 1)),
      );
      break;
    case "centre":
      starts = Array.from({ length: config.numClips }, () => Math.floor(lastStart / 2));
      break;
    case "sliding": {
      const every = config.every ?? 0;
      if (!Number.isInteger(every) || every < 1) throw new ClipflowError("ConfigError", 'start "sliding" needs every >= 1', { field: "sampler.every" });
      starts = Array.from({ length: Math.floor(lastStart / every) + 1 }, (_, i) => i * every);
      break;
    }
    case "seconds":
      if (config.startSeconds === undefined || config.startSeconds.length === 0) {
        throw new ClipflowError("ConfigError", 'start "seconds" needs startSeconds', { field: "sampler.startSeconds" });
      }
      starts = config.startSeconds.map((seconds) => Math.min(lastStart, Math.max(0, Math.round(seconds * input.sourceFps))));
      break;
    case "explicit":
      if (config.starts === undefined || config.starts.length === 0) {
        throw new ClipflowError("ConfigError", 'start "explicit" needs starts', { field: "sampler.starts" });
      }
      starts = config.starts.slice();
      break;
  }
  if (config.jitter > 0) starts = starts.map((s) => Math.min(lastStart, Math.max(0, s + rng.int(-config.jitter, config.jitter))));
  const clips: number[][] = [];
  for (const start of starts) {
    const indices = Array.from({ length: config.numFrames }, (_, k) => start + Math.round(k * step));
    const outside = indices.some((index) => index >= n);
    if (!outside) {
      clips.push(indices);
      continue;
    }
    switch (config.outOfBounds) {
      case "wrap":
        clips.push(indices.map((index) => index % n));
        break;
      case "repeatLast":
        clips.push(indices.map((index) => Math.min(index, n - 1)));
        break;
      case "error":
        throw new ClipflowError("TooShort", `a clip of ${config.numFrames} frames at step ${step} needs ${span} frames, the video has ${n}`);
      case "skip":
        break;
    }
  }
  if (clips.length === 0) throw new ClipflowError("TooShort", `no clip of ${span} frames fits in ${n} frames`);
  return clips;
}
