/**
 * VTDL, temporal discriminative learning (Wang et al. 2020; METHODS.md §2).
 * - Temporal triplet: anchor and positive share one interval (16 frames at stride 4, indices past the end wrap); the
 *   negative comes from another interval of the same video: a new random start, shifted by N/3 (mod N) when it lies
 *   within `thresh` frames of the anchor's start (thresh 2 for UCF101/HMDB51, 4 for the Kinetics loader).
 * - TCA, temporal consistent augmentation (anchor only, after normalisation): x'_t = (1 − λ)·x_t + λ·x_τ with one λ per
 *   batch and one frame τ per clip. The added term is constant in time, so every temporal derivative is scaled by
 *   exactly (1 − λ).
 */
import { ClipflowError } from "../core/errors.ts";
import { rngFromSeed } from "../core/rng.ts";

export interface TripletInput {
  frameCount: number;
  numFrames: number;
  stride: number;
  thresh: number;
  seed: number;
}

export interface TripletPlan {
  anchorStart: number;
  negativeStart: number;
  /** Shared by anchor and positive. */
  anchor: number[];
  negative: number[];
}

export function tripletPlan(input: TripletInput): TripletPlan {
  const { frameCount: n, numFrames, stride, thresh } = input;
  if (!Number.isInteger(n) || n < 1) throw new ClipflowError("TooShort", `the video has no frames (${n})`);
  const rng = rngFromSeed(input.seed);
  const anchorStart = rng.int(0, n - 1);
  let negativeStart = rng.int(0, n - 1);
  if (Math.abs(negativeStart - anchorStart) <= thresh) negativeStart = (negativeStart + Math.floor(n / 3)) % n;
  const clip = (start: number) => Array.from({ length: numFrames }, (_, k) => (start + k * stride) % n);
  return { anchorStart, negativeStart, anchor: clip(anchorStart), negative: clip(negativeStart) };
}

export interface TcaInput {
  /** [B, T, H, W, C] float32 (normalised clips). */
  data: Float32Array;
  shape: [number, number, number, number, number];
  lambda: number;
  /** One frame index per clip. */
  taus: number[];
}

export function tca(input: TcaInput): Float32Array {
  const [b, t, h, w, c] = input.shape;
  const { lambda, taus } = input;
  if (taus.length !== b) throw new ClipflowError("ConfigError", `tca needs one tau per clip: ${taus.length} for ${b}`);
  const frame = h * w * c;
  const out = new Float32Array(input.data.length);
  for (let i = 0; i < b; i++) {
    const tau = taus[i] as number;
    if (!Number.isInteger(tau) || tau < 0 || tau >= t) throw new ClipflowError("ConfigError", `tau ${tau} is not a frame of a ${t}-frame clip`);
    const clip = i * t * frame;
    const fixed = clip + tau * frame;
    for (let k = 0; k < t; k++) {
      const at = clip + k * frame;
      for (let p = 0; p < frame; p++) {
        out[at + p] = (1 - lambda) * (input.data[at + p] as number) + lambda * (input.data[fixed + p] as number);
      }
    }
  }
  return out;
}
