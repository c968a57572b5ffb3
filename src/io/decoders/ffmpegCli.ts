/**
 * The portable decoder: the ffmpeg command line (binary from ffmpegBinary()). Seeks to the keyframe before the first
 * wanted frame, selects the wanted frames by the libav decoder's index (from pts at a constant rate, else the decode
 * ordinal), stops after the last, converts and scales them in one bilinear swscale step with full chroma interpolation
 * (the libav decoder's result to the byte), crops, and reads raw frames from a pipe; `showinfo` reports each selected
 * frame's pts, which is checked against the request. One process per request: use it where in-process libav is
 * unavailable, and as the reference in tests. The child is killed on abort or when the watchdog fires.
 */
import { spawn } from "node:child_process";
import { ClipflowError } from "../../core/errors.ts";
import { ffmpegBinary } from "../ffmpegBinary.ts";
import { cropWindow, resizedSize, wantedIndices, checkLimits, type DecodedFrames, type DecodeRequest, type VideoInfo } from "./types.ts";

export interface CliOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/** Decodes with the ffmpeg CLI. `info` (from a probe) gives the source size for geometry and the limits check. */
export async function decodeCli(request: DecodeRequest, info: VideoInfo, options: CliOptions = {}): Promise<DecodedFrames> {
  const { uri } = request;
  const wanted = wantedIndices(request.indices, uri);
  const channels = request.format === "gray" ? 1 : 3;
  const [rw, rh] = resizedSize(info.width, info.height, request.geometry);
  const [cx, cy, cw, ch] = cropWindow(rw, rh, request.geometry, uri);
  checkLimits(info, cw, ch, channels, wanted.length, request);
  const pixFmt = channels === 1 ? "gray" : "rgb24";
  // The same index as the libav decoder: at a constant rate from pts (timestamps kept as they are in the file, so
  // t − start is the stream time), else the decode ordinal. At a constant rate ffmpeg first seeks to the keyframe at or
  // before the first wanted frame (half a frame early, without trimming: the select alone picks frames), and at any rate
  // it stops after the last wanted frame, so a clip costs the decode from its keyframe, as in the libav decoder.
  const seek = info.constantRate && wanted.length > 0 ? Math.max(0, ((wanted[0] as number) - 0.5) / info.fps) : 0;
  const indexExpr = info.constantRate ? `round((t-${info.startS})*${info.fps})` : "n";
  const select = wanted.map((i) => `eq(${indexExpr}\\,${i})`).join("+");
  const filters = [`select='${select}'`, "showinfo", `scale=${rw}:${rh}:flags=bilinear+full_chroma_int`, `format=${pixFmt}`, `crop=${cw}:${ch}:${cx}:${cy}`];
  const threads = request.threads === undefined ? [] : ["-threads", String(request.threads)];
  const input = [...threads, ...(info.constantRate ? ["-copyts", ...(seek > 0 ? ["-noaccurate_seek", "-ss", seek.toFixed(6)] : [])] : []), "-i", uri];
  const args = ["-hide_banner", "-nostdin", "-loglevel", "info", ...input, "-map", "0:v:0", "-vf", filters.join(","), "-frames:v", String(wanted.length), "-vsync", "0", "-f", "rawvideo", "-pix_fmt", pixFmt, "pipe:1"];
  const ptsOffset = info.constantRate ? info.startS : 0;
  const frameBytes = cw * ch * channels;
  const data = new Uint8Array(frameBytes * wanted.length);
  const pts: number[] = [];
  let received = 0;
  let stderrTail = "";
  let pending = "";
  const child = spawn(ffmpegBinary().path, args, { stdio: ["ignore", "pipe", "pipe"] });
  const kill = () => child.kill("SIGKILL");
  options.signal?.addEventListener("abort", kill, { once: true });
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    kill();
  }, options.timeoutMs);
  child.stdout.on("data", (chunk: Buffer) => {
    const room = data.length - received;
    data.set(chunk.subarray(0, Math.min(room, chunk.length)), received);
    received += Math.min(room, chunk.length);
  });
  child.stderr.on("data", (chunk: Buffer) => {
    const text = pending + chunk.toString();
    const lines = text.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      const match = /showinfo.*\bpts_time:\s*(-?[\d.]+)/.exec(line);
      if (match) pts.push(Number(match[1]) - ptsOffset);
      else stderrTail = (stderrTail + line + "\n").slice(-2000);
    }
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  }).finally(() => {
    if (timer) clearTimeout(timer);
    options.signal?.removeEventListener("abort", kill);
  });
  if (timedOut) throw new ClipflowError("Timeout", `ffmpeg gave no result within ${options.timeoutMs} ms`, { uri });
  if (options.signal?.aborted) throw new ClipflowError("Cancelled", "decode cancelled", { uri });
  if (code !== 0) {
    const message = stderrTail.trim().split("\n").slice(-2).join(" | ");
    const tag = /No such file/i.test(message) ? "MissingFile" : /Invalid data|moov atom/i.test(message) ? "CorruptFile" : "DecodeError";
    throw new ClipflowError(tag, `ffmpeg exited ${code}: ${message}`, { uri });
  }
  const frames = Math.floor(received / frameBytes);
  if (frames < wanted.length) {
    throw new ClipflowError("TooShort", `got ${frames} of ${wanted.length} wanted frames (last wanted ${wanted.at(-1)})`, { uri });
  }
  return { data, shape: [wanted.length, ch, cw, channels], indices: wanted, pts: pts.slice(0, wanted.length), info };
}
