import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { before, test } from "node:test";
import { ClipflowError } from "../../src/core/errors.ts";
import { decodeCli } from "../../src/io/decoders/ffmpegCli.ts";
import { decodeLibav, libavInfo, readsHeaderOnly } from "../../src/io/decoders/libav.ts";
import { encodeFrames, type EncodeOptions } from "../../src/io/encode.ts";
import { ffmpegBinary } from "../../src/io/ffmpegBinary.ts";
import { tempDir } from "../helpers/tempDir.ts";

const W = 64;
const H = 48;
const FRAMES = 60;
/** Frame i is a flat grey of level(i) with a moving white bar: its mean tells which frame it is. */
const level = (i: number) => 20 + ((i * 37) % 200);
function frame(i: number): Uint8Array {
  const data = new Uint8Array(W * H * 3).fill(level(i));
  const x = i % W;
  for (let y = 0; y < 4; y++) for (let c = 0; c < 3; c++) data[(y * W + x) * 3 + c] = 255;
  return data;
}
const meanOf = (data: Uint8Array, t: number, bytes: number) => {
  let sum = 0;
  for (let k = t * bytes + W * 3 * 4; k < (t + 1) * bytes; k++) sum += data[k] as number; // skip the bar rows
  return sum / (bytes - W * 3 * 4);
};

const dir = tempDir("clipflow-decoders-");
const files: Record<string, string> = {};

async function make(name: string, options: Partial<EncodeOptions>, frames = FRAMES): Promise<void> {
  const path = join(dir, name);
  await encodeFrames(path, Array.from({ length: frames }, (_, i) => frame(i)), { width: W, height: H, fps: 30, ...options });
  files[name] = path;
}

function ffmpeg(...args: string[]): void {
  const result = spawnSync(ffmpegBinary().path, ["-hide_banner", "-loglevel", "error", "-y", ...args], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
}

before(async () => {
  await make("bframes.mp4", { gop: 30, bframes: 3 });
  await make("longgop.mp4", { gop: 250, bframes: 2 });
  await make("allintra.mp4", { gop: 1, bframes: 0 });
  await make("opengop.mkv", { gop: 20, bframes: 3, extraArgs: ["-x264-params", "open-gop=1:keyint=20:min-keyint=20"] });
  await make("mpeg4.avi", { codec: "mpeg4", gop: 12 });
  await make("offset.mp4", { gop: 30, extraArgs: ["-output_ts_offset", "1.5"] });
  // variable frame rate: every third frame dropped, timestamps kept
  ffmpeg("-i", files["bframes.mp4"] as string, "-vf", "select='not(eq(mod(n\\,3)\\,1))'", "-vsync", "vfr", "-c:v", "libx264", "-preset", "veryfast", "-crf", "10", join(dir, "vfr.mkv"));
  files["vfr.mkv"] = join(dir, "vfr.mkv");
  // saturated colour edges (4:2:0): where the chroma interpolation of the resize shows
  ffmpeg("-f", "lavfi", "-i", `testsrc2=size=${W}x${H}:rate=30`, "-frames:v", String(FRAMES), "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p", join(dir, "colour.mp4"));
  files["colour.mp4"] = join(dir, "colour.mp4");
});

const wanted = [0, 1, 17, 29, 30, 31, 45, 58, 59];

test("an MP4 read from its header alone gives the same stream facts as after avformat_find_stream_info", () => {
  // (audio beside the video, fragmented MP4 and a variable frame rate in MP4 as well as the files above)
  ffmpeg("-i", files["bframes.mp4"] as string, "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", join(dir, "audio.mp4"));
  ffmpeg("-i", files["bframes.mp4"] as string, "-c", "copy", "-movflags", "+frag_keyframe+empty_moov", join(dir, "fragmented.mp4"));
  ffmpeg("-i", files["vfr.mkv"] as string, "-c", "copy", join(dir, "vfr.mp4"));
  const names = [...Object.keys(files), "audio.mp4", "fragmented.mp4", "vfr.mp4"];
  for (const name of names) {
    const path = files[name] ?? join(dir, name);
    assert.deepEqual(libavInfo(path), libavInfo(path, true), name);
  }
  const headerOnly = names.filter((name) => readsHeaderOnly(files[name] ?? join(dir, name)));
  assert.deepEqual(headerOnly.sort(), ["allintra.mp4", "audio.mp4", "bframes.mp4", "colour.mp4", "longgop.mp4", "offset.mp4"]);
  // and the frames: decoded (from the header) equal to what the CLI decoder returns is checked by the tests below
});

test("frame-accurate: B-frames, open and long GOPs, all-intra, mpeg4/avi and a non-zero start time all return exactly the wanted frames", () => {
  for (const name of ["bframes.mp4", "opengop.mkv", "longgop.mp4", "allintra.mp4", "mpeg4.avi", "offset.mp4"]) {
    const result = decodeLibav({ uri: files[name] as string, indices: [45, 0, 17, 59, 1, 30, 29, 31, 58, 17] });
    assert.deepEqual(result.indices, wanted, name);
    assert.deepEqual(result.shape, [wanted.length, H, W, 3]);
    const bytes = W * H * 3;
    wanted.forEach((index, t) => {
      assert.ok(Math.abs(meanOf(result.data, t, bytes) - level(index)) < 3, `${name}: frame ${index} has mean ${meanOf(result.data, t, bytes)}, expected ${level(index)}`);
      // MKV keeps time in milliseconds: pts agree to the container's time base
      assert.ok(Math.abs((result.pts[t] as number) - index / 30) < 1e-3, `${name}: pts of ${index}`);
    });
    if (name === "offset.mp4") assert.ok(Math.abs(result.info.startS - 1.5) < 0.05, `start ${result.info.startS}`);
  }
});

test("non-reference frames outside the wanted set are skipped, and no wanted pixel changes: a sparse request equals the same frames of a full decode", () => {
  for (const name of ["bframes.mp4", "opengop.mkv", "longgop.mp4"]) {
    const uri = files[name] as string;
    const sparse = [2, 9, 10, 23, 37, 41, 58];
    const full = decodeLibav({ uri, indices: Array.from({ length: 60 }, (_, i) => i) });
    const some = decodeLibav({ uri, indices: sparse });
    const bytes = W * H * 3;
    sparse.forEach((index, t) => assert.deepEqual(some.data.subarray(t * bytes, (t + 1) * bytes), full.data.subarray(index * bytes, (index + 1) * bytes), `${name}: frame ${index}`));
    assert.deepEqual(some.pts, sparse.map((index) => full.pts[index]));
  }
});

test("variable frame rate: frames are found by pts; a dropped frame is a typed error, never a neighbour", async () => {
  const uri = files["vfr.mkv"] as string;
  const info = libavInfo(uri);
  const kept = [0, 2, 3, 5, 33, 59];
  const libav = decodeLibav({ uri, indices: kept });
  const cli = await decodeCli({ uri, indices: kept }, info);
  kept.forEach((index, t) => assert.ok(Math.abs(meanOf(libav.data, t, W * H * 3) - level(index)) < 3, `frame ${index}`));
  assert.deepEqual(libav.indices, kept);
  assert.deepEqual(cli.indices, kept);
  assert.ok(Math.max(...Array.from(libav.data, (v, i) => Math.abs(v - (cli.data[i] as number)))) <= 2, "backends agree");
  assert.throws(() => decodeLibav({ uri, indices: [0, 1] }), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort" && /frames 1 not in the video/.test(e.message));
  await assert.rejects(decodeCli({ uri, indices: [0, 1] }, info), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort");
});

test("differential: libav and the ffmpeg CLI give the same indices and pixels (tolerance: max |Δ| ≤ 2, mean |Δ| ≤ 0.1)", async () => {
  for (const name of ["bframes.mp4", "longgop.mp4", "mpeg4.avi", "offset.mp4", "colour.mp4"]) {
    for (const geometry of [undefined, { width: 32, height: 32 }, { shortSide: 40, crop: [36, 30] as [number, number] }]) {
      for (const format of ["rgb24", "gray"] as const) {
        const uri = files[name] as string;
        const request = { uri, indices: [3, 30, 44], geometry, format };
        const a = decodeLibav(request);
        const b = await decodeCli(request, libavInfo(uri));
        assert.deepEqual(a.shape, b.shape);
        assert.deepEqual(a.indices, b.indices);
        let max = 0;
        let sum = 0;
        for (let i = 0; i < a.data.length; i++) {
          const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
          max = Math.max(max, d);
          sum += d;
        }
        assert.ok(max <= 2 && sum / a.data.length <= 0.1, `${name} ${JSON.stringify(geometry)} ${format}: max ${max}, mean ${sum / a.data.length}`);
        a.pts.forEach((p, i) => assert.ok(Math.abs(p - (b.pts[i] as number)) < 1e-3, `${name}: pts ${p} vs ${b.pts[i]}`));
      }
    }
  }
});

test("the CLI decoder seeks to the keyframe before a late clip and stops after it: the same frames and pts as libav on every container", async () => {
  // offset.mp4 starts at 1.5 s, opengop.mkv's keyframes open their GOPs, vfr.mkv is decoded from the start (no seek)
  for (const name of ["bframes.mp4", "opengop.mkv", "longgop.mp4", "allintra.mp4", "mpeg4.avi", "offset.mp4", "vfr.mkv"]) {
    const uri = files[name] as string;
    const indices = name === "vfr.mkv" ? [33, 45, 59] : [31, 40, 44, 58];
    const a = decodeLibav({ uri, indices });
    const b = await decodeCli({ uri, indices }, libavInfo(uri));
    assert.deepEqual(b.indices, indices, name);
    let max = 0;
    for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs((a.data[i] as number) - (b.data[i] as number)));
    assert.ok(max <= 2, `${name}: max |Δ| ${max}`);
    indices.forEach((index, t) => assert.ok(Math.abs(meanOf(b.data, t, W * H * 3) - level(index)) < 3, `${name}: CLI frame ${index}`));
    a.pts.forEach((p, i) => assert.ok(Math.abs(p - (b.pts[i] as number)) < 1e-3, `${name}: pts ${p} vs ${b.pts[i]}`));
  }
});

test("geometry: short side keeps the aspect; the crop is centred; gray has one channel", () => {
  const uri = files["bframes.mp4"] as string;
  assert.deepEqual(decodeLibav({ uri, indices: [0], geometry: { shortSide: 24 } }).shape, [1, 24, 32, 1 * 3]);
  assert.deepEqual(decodeLibav({ uri, indices: [0], geometry: { width: 20, height: 10, crop: [8, 6] }, format: "gray" }).shape, [1, 6, 8, 1]);
  assert.throws(() => decodeLibav({ uri, indices: [0], geometry: { width: 20, height: 10, crop: [30, 6] } }), /crop 30×6 is larger than the resized frame 20×10/);
});

test("requests past the end, bad indices and absurd limits are typed errors naming the file", async () => {
  const uri = files["bframes.mp4"] as string;
  assert.throws(() => decodeLibav({ uri, indices: [10, 60, 61] }), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort" && e.uri === uri && /frames 60, 61 not in the video/.test(e.message));
  await assert.rejects(decodeCli({ uri, indices: [10, 60] }, libavInfo(uri)), (e: unknown) => e instanceof ClipflowError && e.tag === "TooShort");
  assert.throws(() => decodeLibav({ uri, indices: [-1] }), /frame index -1 is not a non-negative integer/);
  assert.throws(() => decodeLibav({ uri, indices: [0], limits: { maxWidth: 32 } }), (e: unknown) => e instanceof ClipflowError && e.tag === "CorruptFile" && /absurd dimensions 64×48/.test(e.message));
  assert.throws(() => decodeLibav({ uri, indices: [0, 1], limits: { maxBytes: 1000 } }), /needs 18432 bytes \(limit 1000\)/);
});

test("the CLI decoder stops on abort and on its watchdog", async () => {
  const uri = files["longgop.mp4"] as string;
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(decodeCli({ uri, indices: [50] }, libavInfo(uri), { signal: controller.signal }), { name: "Cancelled" });
  await assert.rejects(decodeCli({ uri, indices: [50] }, libavInfo(uri), { timeoutMs: 1 }), { name: "Timeout" });
});
