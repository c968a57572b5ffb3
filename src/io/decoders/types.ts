/**
 * What a decoder is asked for and what it returns, shared by the in-process libav decoder and the ffmpeg CLI one.
 * A request names the frames it wants by index (several clips of one video in one pass: the union of their indices,
 * sorted) and the output geometry; the result holds each wanted frame once, in index order, with its pts.
 */
import { ClipflowError } from "../../core/errors.ts";

export interface Geometry {
  /** Resize to exactly width × height ... */
  width?: number | undefined;
  height?: number | undefined;
  /** ... or so that the shorter side is this long (aspect kept, sizes rounded to integers). */
  shortSide?: number | undefined;
  /** Then take a crop of this size, centred ... */
  crop?: [width: number, height: number] | undefined;
  /** ... or with its top-left corner here (pixels of the resized frame; PRP's random crop draws it per sample). */
  cropAt?: [x: number, y: number] | undefined;
}

export interface DecodeLimits {
  maxWidth: number;
  maxHeight: number;
  /** Frames a video may have (guards absurd durations before anything is allocated). */
  maxFrames: number;
  /** Bytes one decode may return. */
  maxBytes: number;
}

export const defaultLimits: DecodeLimits = { maxWidth: 8192, maxHeight: 8192, maxFrames: 10_000_000, maxBytes: 2 ** 31 - 1 };

export interface DecodeRequest {
  uri: string;
  /** Frame indices wanted (0-based, in display order); duplicates and order do not matter. */
  indices: number[];
  geometry?: Geometry | undefined;
  format?: "rgb24" | "gray" | undefined;
  limits?: Partial<DecodeLimits> | undefined;
  /**
   * libav decoder threads (default 1: each pool worker is one core's decoder, and on 2 cores two workers with one
   * thread each ran the PRP pipeline 16 % faster than with two threads each). More suit one long sequential decode.
   * The CLI decoder passes it as `-threads`; without it ffmpeg chooses.
   */
  threads?: number | undefined;
}

export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Frame count from the container (or duration × fps when it has none). */
  frames: number;
  durationS: number;
  codec: string;
  startS: number;
  /** The container declares a constant rate: frame indices come from pts (else from decode order). */
  constantRate: boolean;
}

export interface DecodedFrames {
  /** THWC, one frame per entry of `indices`. */
  data: Uint8Array;
  shape: [number, number, number, number];
  /** The distinct wanted indices, ascending. */
  indices: number[];
  /** Presentation time of each frame, seconds from the stream start. */
  pts: number[];
  info: VideoInfo;
}

/** Output size after resize (before crop). */
export function resizedSize(width: number, height: number, geometry: Geometry | undefined): [number, number] {
  if (geometry?.shortSide !== undefined) {
    const scale = geometry.shortSide / Math.min(width, height);
    return width <= height
      ? [geometry.shortSide, Math.round(height * scale)]
      : [Math.round(width * scale), geometry.shortSide];
  }
  return [geometry?.width ?? width, geometry?.height ?? height];
}

/** The crop window inside a resized frame, centred unless `cropAt` places it: [x, y, w, h]. */
export function cropWindow(width: number, height: number, geometry: Geometry | undefined, uri: string): [number, number, number, number] {
  const crop = geometry?.crop;
  if (crop === undefined) return [0, 0, width, height];
  const [cw, ch] = crop;
  if (cw > width || ch > height) {
    throw new ClipflowError("ConfigError", `crop ${cw}×${ch} is larger than the resized frame ${width}×${height}`, { uri, field: "geometry.crop" });
  }
  const at = geometry?.cropAt;
  if (at === undefined) return [Math.floor((width - cw) / 2), Math.floor((height - ch) / 2), cw, ch];
  const [x, y] = at;
  if (!Number.isInteger(x) || !Number.isInteger(y) || x < 0 || y < 0 || x + cw > width || y + ch > height) {
    throw new ClipflowError("ConfigError", `crop ${cw}×${ch} at (${x}, ${y}) does not fit the resized frame ${width}×${height}`, { uri, field: "geometry.cropAt" });
  }
  return [x, y, cw, ch];
}

/** Distinct indices, ascending; rejects negatives and non-integers. */
export function wantedIndices(indices: readonly number[], uri: string): number[] {
  for (const index of indices) {
    if (!Number.isInteger(index) || index < 0) throw new ClipflowError("ConfigError", `frame index ${index} is not a non-negative integer`, { uri, field: "indices" });
  }
  return [...new Set(indices)].sort((a, b) => a - b);
}

/** Refuses absurd sizes before allocating anything. */
export function checkLimits(info: VideoInfo, outWidth: number, outHeight: number, channels: number, count: number, request: DecodeRequest): void {
  const limits = { ...defaultLimits, ...request.limits };
  if (info.width <= 0 || info.height <= 0 || info.width > limits.maxWidth || info.height > limits.maxHeight) {
    throw new ClipflowError("CorruptFile", `absurd dimensions ${info.width}×${info.height} (limit ${limits.maxWidth}×${limits.maxHeight})`, { uri: request.uri });
  }
  if (info.frames > limits.maxFrames) {
    throw new ClipflowError("CorruptFile", `absurd length: ${info.frames} frames (limit ${limits.maxFrames})`, { uri: request.uri });
  }
  const bytes = outWidth * outHeight * channels * count;
  if (bytes > limits.maxBytes) {
    throw new ClipflowError("ConfigError", `the request needs ${bytes} bytes (limit ${limits.maxBytes})`, { uri: request.uri });
  }
}
