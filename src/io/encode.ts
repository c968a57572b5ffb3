/**
 * Encodes raw RGB24 frames into a video file with the ffmpeg command line (H.264 in MP4 by default). Frames are
 * written to ffmpeg's stdin with backpressure; a non-zero exit is a typed error carrying ffmpeg's last stderr lines.
 */
import { spawn } from "node:child_process";
import { ClipflowError } from "../core/errors.ts";
import { ffmpegBinary } from "./ffmpegBinary.ts";

export interface EncodeOptions {
  width: number;
  height: number;
  fps: number;
  /** Keyframe interval in frames (default: one second). */
  gop?: number;
  /** Max consecutive B-frames (default 2). */
  bframes?: number;
  crf?: number;
  codec?: "libx264" | "mpeg4" | "libvpx";
  /** Extra output arguments placed before the output path. */
  extraArgs?: string[];
  signal?: AbortSignal;
}

export async function encodeFrames(path: string, frames: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, options: EncodeOptions): Promise<void> {
  const { width, height, fps } = options;
  const codec = options.codec ?? "libx264";
  const codecArgs =
    codec === "libx264"
      ? ["-c:v", "libx264", "-preset", "veryfast", "-crf", String(options.crf ?? 18), "-pix_fmt", "yuv420p", "-bf", String(options.bframes ?? 2)]
      : codec === "mpeg4"
        ? ["-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p"]
        : ["-c:v", "libvpx", "-b:v", "1M", "-pix_fmt", "yuv420p"];
  const args = [
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${width}x${height}`, "-r", String(fps), "-i", "pipe:0",
    ...codecArgs, "-g", String(options.gop ?? fps),
    ...(options.extraArgs ?? []),
    path,
  ];
  const child = spawn(ffmpegBinary().path, args, { stdio: ["pipe", "ignore", "pipe"], signal: options.signal });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code));
  });
  const frameBytes = width * height * 3;
  try {
    for await (const frame of frames) {
      if (frame.length !== frameBytes) {
        throw new ClipflowError("ConfigError", `frame has ${frame.length} bytes, expected ${frameBytes} (${width}×${height} RGB)`, { uri: path });
      }
      if (!child.stdin.write(frame)) await new Promise<void>((resolve) => child.stdin.once("drain", resolve));
    }
  } catch (error) {
    child.kill("SIGKILL");
    await exited.catch(() => null);
    throw error;
  } finally {
    child.stdin.end();
  }
  const code = await exited;
  if (code !== 0) {
    throw new ClipflowError("DecodeError", `ffmpeg could not encode ${path} (exit ${code}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`, { uri: path });
  }
}
