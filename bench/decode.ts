/**
 * Decoding benchmark (issue 3), every figure measured in this run, on files with keyframe intervals of 8, 30 and
 * 300 (320×240 H.264 with x264's B-frames, 10 s at 30 fps, made with the synthesizer):
 *  1. sequential decode + scale to 112×112 RGB: frames/s of the in-process libav decoder vs `ffmpeg -benchmark`
 *     (both with 2 decoder threads; goal >= 0.9×);
 *  2. random 16-frame clips at stride 4, per second per core: libav (seek + decode the span, one decoder thread, as
 *     in a pool worker) vs spawning the ffmpeg CLI per clip with one decoder thread, two ways: clipflow's CLI decoder
 *     (input seek to the keyframe before the clip, stop after its last frame; the goal's peer, >= 5×) and a select
 *     filter over the whole file (what the CLI decoder did before, and a common way to script it);
 *  3. the same clips vs OpenCV VideoCapture reading from frame 0 up to the clip (the reference code's way; Debian's
 *     python3-opencv, when installed; pinned to one core with taskset, as OpenCV decodes with a thread per core;
 *     goal >= 5×);
 *  4. RSS growth over 5,000 decodes in a loop (goal < 50 MB).
 * Run: npm run bench:decode
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rngFromSeed } from "../src/core/rng.ts";
import { decodeClips } from "../src/io/decodeClips.ts";
import { decodeCli } from "../src/io/decoders/ffmpegCli.ts";
import { decodeLibav, libavInfo } from "../src/io/decoders/libav.ts";
import { encodeFrames } from "../src/io/encode.ts";
import { ffmpegBinary } from "../src/io/ffmpegBinary.ts";
import { renderFrame } from "../src/io/synth.ts";

const dir = mkdtempSync(join(tmpdir(), "clipflow-bench-decode-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const W = 320;
const H = 240;
const look = { background: [40, 90, 160], backgroundAlt: [200, 180, 60], backgroundScale: 9, drift: 0.5, colour: [230, 40, 40], colourAlt: [20, 220, 90], shape: "disk", stripes: 3 } as const;
const motion = { cls: "Orbit", size: 0.18, speed: 1, phase: 0, cx: 0.5, cy: 0.5, direction: 1 } as const;

async function makeFile(name: string, gop: number): Promise<string> {
  const path = join(dir, name);
  await encodeFrames(path, (function* () {
    for (let f = 0; f < 300; f++) yield renderFrame(W, H, look as never, motion as never, f / 30, true);
  })(), { width: W, height: H, fps: 30, gop, crf: 20 });
  return path;
}

const time = (fn: () => void): number => {
  const start = performance.now();
  fn();
  return (performance.now() - start) / 1000;
};

/** The CLI without a seek: a select filter over the whole file picks the clip's frames (one decoder thread). */
function wholeFileCli(path: string, indices: number[]): void {
  const select = indices.map((i) => `eq(n\\,${i})`).join("+");
  const result = spawnSync(ffmpegBinary().path, ["-hide_banner", "-nostdin", "-threads", "1", "-i", path, "-vf", `select='${select}',scale=112:112:flags=bilinear+full_chroma_int,format=rgb24`, "-vsync", "0", "-f", "rawvideo", "pipe:1"], { maxBuffer: 1 << 26 });
  if (result.status !== 0 || result.stdout.length !== indices.length * 112 * 112 * 3) throw new Error(`whole-file CLI: ${String(result.stderr)}`);
}

function ffmpegBenchmark(path: string): number {
  const start = performance.now();
  const result = spawnSync(ffmpegBinary().path, ["-hide_banner", "-benchmark", "-threads", "2", "-i", path, "-vf", "scale=112:112:flags=bilinear,format=rgb24", "-f", "null", "-"], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(result.stderr);
  return (performance.now() - start) / 1000;
}

const pinned = spawnSync("taskset", ["-c", "0", "true"]).status === 0;

function opencv(path: string, clips: number): number | undefined {
  const command = ["/usr/bin/python3", join(import.meta.dirname, "peers", "opencv_clips.py"), path, String(clips), "16", "4", "1"];
  const result = pinned ? spawnSync("taskset", ["-c", "0", ...command], { encoding: "utf8" }) : spawnSync(command[0] as string, command.slice(1), { encoding: "utf8" });
  if (result.status !== 0) return undefined;
  return (JSON.parse(result.stdout) as { clips_per_s: number }).clips_per_s;
}

const sampler = { numFrames: 16, stride: 4, numClips: 1, start: "random" as const, jitter: 0, outOfBounds: "error" as const };

async function main(): Promise<void> {
  const files = { "GOP 8": await makeFile("gop8.mp4", 8), "GOP 30": await makeFile("gop30.mp4", 30), "GOP 300": await makeFile("gop300.mp4", 300) };
  const rows: string[] = [];
  for (const [label, path] of Object.entries(files)) {
    const frames = libavInfo(path).frames;
    const all = Array.from({ length: frames }, (_, i) => i);
    decodeLibav({ uri: path, indices: all.slice(0, 30), geometry: { width: 112, height: 112 }, threads: 2 });
    const ours = Math.min(...[0, 1, 2].map(() => time(() => decodeLibav({ uri: path, indices: all, geometry: { width: 112, height: 112 }, threads: 2 }))));
    const theirs = Math.min(...[0, 1, 2].map(() => ffmpegBenchmark(path)));
    rows.push(`${label}  sequential 112×112 RGB: libav ${(frames / ours).toFixed(0)} frames/s, ffmpeg -benchmark ${(frames / theirs).toFixed(0)} frames/s → ${(theirs / ours).toFixed(2)}× (goal >= 0.9)`);

    const clips = 60;
    const libavClips = clips / time(() => {
      for (let i = 0; i < clips; i++) decodeClips({ uri: path, sampler, seed: i, geometry: { width: 112, height: 112 } });
    });
    const info = libavInfo(path);
    const cli = async (whole: boolean): Promise<number> => {
      const rng = rngFromSeed(1);
      const cliStart = performance.now();
      const cliClips = 20;
      for (let i = 0; i < cliClips; i++) {
        const start = rng.int(0, frames - 61);
        const indices = Array.from({ length: 16 }, (_, k) => start + 4 * k);
        if (whole) wholeFileCli(path, indices);
        else await decodeCli({ uri: path, indices, geometry: { width: 112, height: 112 }, threads: 1 }, info);
      }
      return cliClips / ((performance.now() - cliStart) / 1000);
    };
    const seeking = await cli(false);
    const whole = await cli(true);
    rows.push(
      `${label}  random 16×4 clips per core: libav ${libavClips.toFixed(1)}/s, ffmpeg CLI per clip seeking ${seeking.toFixed(1)}/s → ${(libavClips / seeking).toFixed(1)}× (goal >= 5); ` +
        `decoding the whole file ${whole.toFixed(1)}/s → ${(libavClips / whole).toFixed(1)}×`,
    );
    const cv = opencv(path, 20);
    rows.push(
      cv === undefined
        ? `${label}  OpenCV VideoCapture from frame 0: peer unavailable (needs /usr/bin/python3 with cv2)`
        : `${label}  OpenCV VideoCapture from frame 0: ${cv.toFixed(1)} clips/s → libav ${(libavClips / cv).toFixed(1)}× (goal >= 5)`,
    );
  }
  const path = files["GOP 30"];
  global.gc?.();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 5000; i++) decodeLibav({ uri: path, indices: [i % 290, (i % 290) + 4], geometry: { width: 112, height: 112 } });
  global.gc?.();
  const growth = (process.memoryUsage().rss - before) / 2 ** 20;
  rows.push(`5,000 decodes in a loop: RSS grew ${growth.toFixed(1)} MB (goal < 50 MB → ${(growth / 50).toFixed(2)} of the limit)`);
  console.log(`clipflow decode benchmark (320×240 H.264, 300 frames; sequential: libav and ffmpeg with 2 decoder threads each; random clips: one decoder thread each)\n${rows.map((row) => `  ${row}`).join("\n")}`);
}

await main();
