/**
 * The optical-flow cache: one folder per video under ROOT/<method>-s<size>-<hash of the parameters>/, holding the
 * flow frames and a meta.json written last (a folder without it is incomplete and is recomputed). Flow frame k is the
 * flow from RGB frame k to k + 1 (a video of T frames has T − 1). Formats:
 * - "jpeg" (default): flow_00001.jpg … as CoCLR's extract_ff.py writes them — quality 100, 4:2:0, 1-based names; the
 *   reference writes (u, v, 128) through OpenCV's BGR order, so the files hold (128, v, u) as RGB, and so do ours:
 *   folders made by the reference read back the same;
 * - "png": the same pixels, lossless;
 * - "raw": one flow.u8 file of [T − 1, H, W, 2] bytes (u, v), the fastest to read.
 * Reading returns (u, v, 128) frames in clipflow's channel order. Images are encoded and decoded with sharp (libvips),
 * loaded on first use: specs that only name the cache (flowPair in the main thread) never load the native addon.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { OutputInfo } from "sharp";
import { ClipflowError } from "../core/errors.ts";
import type { FarnebackParams } from "../kernels/farneback.ts";
import type { FlowMethod } from "../kernels/flow.ts";
import type { Tvl1Params } from "../kernels/tvl1.ts";

export type FlowFormat = "jpeg" | "png" | "raw";

export interface FlowCacheParams {
  method: FlowMethod;
  /** Frames are resized to this short side before the flow is computed (CoCLR's reference: 256). */
  shortSide: number;
  bound: number;
  format: FlowFormat;
  tvl1?: Partial<Tvl1Params> | undefined;
  farneback?: Partial<FarnebackParams> | undefined;
}

export interface FlowMeta {
  version: 1;
  videoId: string;
  uri: string;
  /** RGB frames of the video; there are frames − 1 flow frames. */
  frames: number;
  width: number;
  height: number;
  fps: number;
  params: FlowCacheParams;
  /** When the entry was written (ISO time) and how long decoding + flow + writing took. */
  createdAt?: string;
  computeMs?: number;
}

/** The cache folder of one parameter set: everything that changes the pixels is in the key. */
export function flowCacheKey(params: FlowCacheParams): string {
  const { method, shortSide, bound, format } = params;
  const options = method === "tvl1" ? params.tvl1 : params.farneback;
  const hash = createHash("sha256").update(JSON.stringify({ method, shortSide, bound, format, options: options ?? {} })).digest("hex").slice(0, 10);
  return `${method}-s${shortSide}-${hash}`;
}

/** A video id as a folder name: path separators and other unsafe characters become "_" (the id stays in meta.json). */
function safeName(videoId: string): string {
  const cleaned = videoId.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_");
  return cleaned === videoId ? cleaned : `${cleaned}-${createHash("sha256").update(videoId).digest("hex").slice(0, 8)}`;
}

/** A video's entry in a cache folder (ROOT/<key>, as `clipflow flow` prints it). */
export function flowEntryDir(cacheDir: string, videoId: string): string {
  return join(cacheDir, safeName(videoId));
}

export function flowVideoDir(root: string, params: FlowCacheParams, videoId: string): string {
  return flowEntryDir(join(root, flowCacheKey(params)), videoId);
}

/** A cache entry's meta.json, checked; a corrupt one is a typed error naming the file. */
function parseFlowMeta(text: string, path: string): FlowMeta {
  try {
    const meta = JSON.parse(text) as FlowMeta;
    if (meta.version !== 1 || !Number.isInteger(meta.frames) || meta.frames < 2 || typeof meta.params?.shortSide !== "number") throw new Error("unexpected fields");
    return meta;
  } catch (cause) {
    throw new ClipflowError("CorruptFile", `flow cache entry ${path} is not a valid meta.json (delete the folder to recompute it)`, { uri: path, cause });
  }
}

/** The meta of a complete cache entry, or undefined when there is none yet; a corrupt meta.json is a typed error. */
export async function readFlowMeta(dir: string): Promise<FlowMeta | undefined> {
  const path = join(dir, "meta.json");
  if (!existsSync(path)) return undefined;
  return parseFlowMeta(await readFile(path, "utf8"), path);
}

/**
 * The parameters a cache folder was filled with (from its first valid entry): what a reader needs when it has only
 * the folder, e.g. the short side the RGB frames beside the flow are decoded at.
 */
export function flowCacheParams(cacheDir: string): FlowCacheParams {
  let entries: string[];
  try {
    entries = readdirSync(cacheDir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  } catch (cause) {
    throw new ClipflowError("MissingFile", `flow cache ${cacheDir} cannot be read`, { uri: cacheDir, cause });
  }
  for (const name of entries) {
    const path = join(cacheDir, name, "meta.json");
    if (!existsSync(path)) continue;
    try {
      return parseFlowMeta(readFileSync(path, "utf8"), path).params;
    } catch {
      // a corrupt entry says nothing about the folder: look at the next
    }
  }
  throw new ClipflowError("MissingFile", `flow cache ${cacheDir} has no complete entry to read its parameters from`, { uri: cacheDir });
}

const frameName = (k: number, format: "jpeg" | "png") => `flow_${String(k + 1).padStart(5, "0")}.${format === "jpeg" ? "jpg" : "png"}`;

/** (u, v, 128) → the file's RGB (128, v, u), and back. */
function swapUandThird(src: Uint8Array, offset: number, pixels: number): Buffer {
  const out = Buffer.allocUnsafe(pixels * 3);
  for (let i = 0; i < pixels; i += 1) {
    out[i * 3] = src[offset + i * 3 + 2]!;
    out[i * 3 + 1] = src[offset + i * 3 + 1]!;
    out[i * 3 + 2] = src[offset + i * 3]!;
  }
  return out;
}

/**
 * Writes a video's quantised flow ([T − 1, H, W, 3], (u, v, 128)) as a cache entry: into a temporary folder, meta.json
 * last, then renamed into place, so an interrupted write never leaves an entry that looks complete.
 */
export async function writeFlowVideo(dir: string, meta: FlowMeta, flow: { data: Uint8Array; shape: [number, number, number, number] }): Promise<void> {
  const [n, h, w, c] = flow.shape;
  if (c !== 3 || n !== meta.frames - 1) throw new ClipflowError("ConfigError", `flow of shape ${flow.shape.join("×")} does not fit ${meta.frames} frames`);
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  const frame = h * w * 3;
  const { format } = meta.params;
  if (format === "raw") {
    const raw = new Uint8Array(n * h * w * 2);
    for (let i = 0; i < n * h * w; i += 1) {
      raw[i * 2] = flow.data[i * 3]!;
      raw[i * 2 + 1] = flow.data[i * 3 + 1]!;
    }
    await writeFile(join(tmp, "flow.u8"), raw);
  } else {
    const { default: sharp } = await import("sharp");
    for (let k = 0; k < n; k += 1) {
      const image = sharp(swapUandThird(flow.data, k * frame, h * w), { raw: { width: w, height: h, channels: 3 } });
      const encoded = format === "jpeg" ? image.jpeg({ quality: 100, chromaSubsampling: "4:2:0" }) : image.png({ compressionLevel: 6 });
      await writeFile(join(tmp, frameName(k, format)), await encoded.toBuffer());
    }
  }
  await writeFile(join(tmp, "meta.json"), `${JSON.stringify(meta)}\n`);
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir);
}

/**
 * Flow frames at the given RGB frame indices (flow k = frame k → k + 1; indices past the last flow frame read the last
 * one, as the reference's loader does), as [n, H, W, 3] (u, v, 128).
 */
export async function readFlowFrames(dir: string, meta: FlowMeta, indices: readonly number[]): Promise<{ data: Uint8Array; shape: [number, number, number, number] }> {
  const { width: w, height: h } = meta;
  const flows = meta.frames - 1;
  const out = new Uint8Array(indices.length * h * w * 3);
  const frame = h * w * 3;
  const { format } = meta.params;
  if (format === "raw") {
    const path = join(dir, "flow.u8");
    const handle = await open(path, "r").catch((cause: unknown) => {
      throw new ClipflowError("MissingFile", `flow cache file ${path} is missing`, { uri: path, cause });
    });
    try {
      const buffer = new Uint8Array(h * w * 2);
      for (const [t, index] of indices.entries()) {
        const k = Math.min(Math.max(index, 0), flows - 1);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, k * buffer.length);
        if (bytesRead !== buffer.length) throw new ClipflowError("CorruptFile", `flow cache file ${path} is truncated at flow frame ${k}`, { uri: path });
        for (let i = 0; i < h * w; i += 1) {
          out[t * frame + i * 3] = buffer[i * 2]!;
          out[t * frame + i * 3 + 1] = buffer[i * 2 + 1]!;
          out[t * frame + i * 3 + 2] = 128;
        }
      }
    } finally {
      await handle.close();
    }
    return { data: out, shape: [indices.length, h, w, 3] };
  }
  const { default: sharp } = await import("sharp");
  // a clip repeats flow frames (indices past the end read the last one): each file is decoded once
  const decodedAt = new Map<number, number>();
  for (const [t, index] of indices.entries()) {
    const k = Math.min(Math.max(index, 0), flows - 1);
    const earlier = decodedAt.get(k);
    if (earlier !== undefined) {
      out.copyWithin(t * frame, earlier * frame, (earlier + 1) * frame);
      continue;
    }
    decodedAt.set(k, t);
    const path = join(dir, frameName(k, format));
    let decoded: { data: Buffer; info: OutputInfo };
    try {
      decoded = await sharp(path).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
    } catch (cause) {
      const missing = !existsSync(path);
      throw new ClipflowError(missing ? "MissingFile" : "CorruptFile", `flow frame ${path} ${missing ? "is missing" : "cannot be decoded"}`, { uri: path, cause });
    }
    if (decoded.info.width !== w || decoded.info.height !== h || decoded.info.channels !== 3) {
      throw new ClipflowError("CorruptFile", `flow frame ${path} is ${decoded.info.width}×${decoded.info.height}×${decoded.info.channels}, expected ${w}×${h}×3`, { uri: path });
    }
    out.set(swapUandThird(decoded.data, 0, h * w), t * frame);
  }
  return { data: out, shape: [indices.length, h, w, 3] };
}
