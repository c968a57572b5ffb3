/**
 * Train-step benchmark (issue 5): PRP's full step (encoder + rate head + decoder, weighted MSE + 0.1·CE, SGD update)
 * at batch 8 and 16×112×112, C3D-BN, R(2+1)D-10 and R3D-10 (ONNX Runtime rows), width 1.0 and 0.25; ms per clip and peak RSS for clipflow (wasm
 * backend, micro-batches to stay under the 4 GB wasm heap) and for PyTorch CPU with 2 threads on the same
 * architecture (bench/peers/prp_train_step.py, Debian's python3-torch), measured in the same run, one after the other.
 * Goal: within 1.5× of PyTorch.
 * Each configuration runs in its own process (a wasm heap that runs out cannot be recovered), ours then the peer's.
 * Convolutions and large matrix products run on ONNX Runtime where onnxruntime-node is installed (rows marked "ort"),
 * else on tfjs's wasm kernels (rows marked "tfjs"). The ORT rows run 2 replicas with one ORT thread each: tfjs's
 * element-wise work runs on one core, so one replica with 2 ORT threads leaves a core idle between convolutions.
 * Run: npm run bench:train [-- --quick]   (--quick: width 0.25 only, 2 replicas; the full run adds width 1.0 and the
 * single-replica configurations)
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { rngFromSeed } from "../src/core/rng.ts";
import type { Batch } from "../src/core/types.ts";
import { selectBackend } from "../src/models/backend.ts";
import { ThreadReplica } from "../src/models/replica.ts";
import { buildTrainer } from "../src/models/trainerHandle.ts";
import { parsePipelineSpec } from "../src/stages/index.ts";

const quick = process.argv.includes("--quick");
const batchSize = 8;
const size = 112;
const steps = 2;

function syntheticBatch(): Batch {
  const rng = rngFromSeed(1);
  const clip = 16 * size * size * 3;
  const target = 32 * size * size * 3;
  const keys = Array.from({ length: batchSize }, (_, i) => `b${i}`);
  return {
    keys,
    videoIds: keys,
    views: {
      rgb: { data: Uint8Array.from({ length: batchSize * clip }, () => rng.int(0, 256)), shape: [batchSize, 16, size, size, 3], layout: "BTHWC" },
      target: { data: Float32Array.from({ length: batchSize * target }, () => rng.next()), shape: [batchSize, 32, size, size, 3], layout: "BTHWC" },
      motion: { data: Float32Array.from({ length: batchSize * target }, () => 0.8 + 1.2 * rng.next()), shape: [batchSize, 32, size, size, 3], layout: "BTHWC" },
    },
    targets: {
      rate: { data: Float32Array.from(keys, (_, i) => i % 4), shape: [batchSize], layout: "B" },
      flags: { data: Float32Array.from({ length: batchSize * 32 }, (_, i) => (i % 2 === 0 ? 1 : 0)), shape: [batchSize, 32], layout: "B" },
    },
    meta: keys.map(() => ({})),
  };
}

function peer(backbone: string, width: number): { ms_per_clip: number; peak_rss_mb: number } | undefined {
  const result = spawnSync("/usr/bin/python3", [join(import.meta.dirname, "peers", "prp_train_step.py"), backbone, String(width), String(batchSize), String(size), String(steps)], { encoding: "utf8" });
  if (result.status !== 0) return undefined;
  return JSON.parse(result.stdout.trim().split("\n").at(-1) ?? "{}");
}

type Engine = "onnxruntime" | "tfjs";
type Backbone = "c3d" | "r3d" | "r2plus1d";

async function ours(backbone: Backbone, width: number, microBatch: number, replicas: number, convolutions: Engine): Promise<number> {
  const spec = parsePipelineSpec({
    stages: [{ stage: "videos", data: "unused" }],
    train: { task: { kind: "prp", backbone: { name: backbone, width } }, optimizer: { groups: { final: 10 } }, microBatch, replicas, convolutions },
  });
  const trainer = await buildTrainer(spec, undefined, undefined, replicas);
  const replica = replicas > 1 ? await ThreadReplica.start(spec) : undefined;
  const batch = syntheticBatch();
  const step = () => (replica === undefined ? Promise.resolve(trainer.step(batch)) : trainer.stepWith(replica, batch));
  await step();
  const started = performance.now();
  for (let i = 0; i < steps; i += 1) await step();
  const ms = (performance.now() - started) / steps;
  await replica?.close();
  trainer.task.dispose();
  trainer.optimizer.dispose();
  return ms / batchSize;
}

const one = process.argv.indexOf("--one");
if (one >= 0) {
  const [backbone, width, micro, replicas, convolutions] = process.argv.slice(one + 1, one + 6);
  const msClip = await ours(backbone as Backbone, Number(width), Number(micro), Number(replicas), (convolutions ?? "tfjs") as Engine);
  console.log(JSON.stringify({ msClip, rssMb: process.memoryUsage().rss / 2 ** 20 }));
  process.exit(0);
}

const backend = await selectBackend("auto");
console.log(`backend: ${backend.name}; PRP step, batch ${batchSize} × 16×${size}×${size}, ${steps} timed steps after one warm-up`);
const { OrtConvEngine } = await import("../src/models/ortConv.ts");
const ort = OrtConvEngine.load();
const withOrt = typeof ort !== "string";
if (!withOrt) console.log(`onnxruntime-node: ${ort}; the ONNX Runtime rows are skipped`);
const configs: Array<[Backbone, number, number, number, Engine]> = [
  ...(withOrt ? ([["r2plus1d", 0.25, 2, 2, "onnxruntime"], ["c3d", 0.25, 2, 2, "onnxruntime"], ["r3d", 0.25, 2, 2, "onnxruntime"]] as const) : []),
  ...(withOrt && !quick ? ([["r2plus1d", 0.25, 4, 1, "onnxruntime"], ["c3d", 0.25, 4, 1, "onnxruntime"], ["r2plus1d", 1, 1, 2, "onnxruntime"], ["c3d", 1, 1, 2, "onnxruntime"], ["r3d", 1, 1, 2, "onnxruntime"]] as const) : []),
  ...(quick
    ? ([["r2plus1d", 0.25, 1, 2, "tfjs"], ["c3d", 0.25, 1, 2, "tfjs"]] as const)
    : ([["r2plus1d", 0.25, 1, 1, "tfjs"], ["r2plus1d", 0.25, 1, 2, "tfjs"], ["c3d", 0.25, 1, 1, "tfjs"], ["c3d", 0.25, 1, 2, "tfjs"], ["r2plus1d", 1, 1, 2, "tfjs"], ["c3d", 1, 1, 2, "tfjs"]] as const)),
].map((c) => [...c] as [Backbone, number, number, number, Engine]);
const peers = new Map<string, ReturnType<typeof peer>>();
for (const [backbone, width, micro, replicas, convolutions] of configs) {
  const child = spawnSync(process.execPath, ["--import", "tsx", import.meta.filename, "--one", backbone, String(width), String(micro), String(replicas), convolutions], { encoding: "utf8", maxBuffer: 1 << 26 });
  const line = child.stdout.trim().split("\n").at(-1) ?? "";
  const mine = child.status === 0 ? (JSON.parse(line) as { msClip: number; rssMb: number }) : undefined;
  const key = `${backbone}:${width}`;
  if (!peers.has(key)) peers.set(key, peer(backbone, width));
  const torch = peers.get(key);
  const label = `${backbone.padEnd(9)} width ${String(width).padEnd(4)} ${convolutions === "onnxruntime" ? "ort " : "tfjs"} micro-batch ${micro} replicas ${replicas}`;
  const theirs = torch === undefined ? "PyTorch: unavailable (needs /usr/bin/python3 with torch)" : `PyTorch ${torch.ms_per_clip.toFixed(0)} ms/clip, peak ${torch.peak_rss_mb.toFixed(0)} MB`;
  if (mine === undefined) {
    // tfjs-wasm aborts without a message when its 4 GB heap cannot grow further
    const full = /memory access out of bounds|Out of memory|RuntimeError: Aborted\(\)/i.test(child.stderr);
    const reason = full ? "does not fit the 4 GB wasm heap" : `failed (${child.stderr.split("\n").find((line) => /Error/.test(line))?.trim() ?? `exit ${child.status}`})`;
    console.log(`${label}: clipflow ${reason}; ${theirs}`);
    continue;
  }
  const ratio = torch === undefined ? "" : ` → ${(mine.msClip / torch.ms_per_clip).toFixed(2)}× PyTorch (goal ≤ 1.5×)`;
  console.log(`${label}: clipflow ${mine.msClip.toFixed(0)} ms/clip, RSS ${mine.rssMb.toFixed(0)} MB; ${theirs}${ratio}`);
}
