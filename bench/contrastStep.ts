/**
 * Contrastive train-step benchmark (issue 5, the S3D backbone): CoCLR's stage-1 step (S3D query encoder + MLP head
 * on one view with gradient, EMA key encoder on the other, InfoNCE against a queue of 2048, Adam, EMA update and
 * enqueue) at batch 8, 16×112×112, width 0.25; ms per clip and peak RSS for clipflow (wasm backend with ONNX
 * Runtime's convolutions where installed; 2 replicas by default, which exchange the keys they enqueue; micro-batches of
 * 2) and for PyTorch CPU with 2 threads on the same architecture (bench/peers/coclr_train_step.py), measured in the
 * same run. Goal: within 1.5× of PyTorch.
 * Run: npm run bench:contrast [-- --width W] [--micro-batch N] [--replicas 1|2]
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { rngFromSeed } from "../src/core/rng.ts";
import type { Batch } from "../src/core/types.ts";
import { scaled } from "../src/models/backbones.ts";
import { ThreadReplica } from "../src/models/replica.ts";
import { buildTrainer } from "../src/models/trainerHandle.ts";
import { parsePipelineSpec } from "../src/stages/index.ts";

const widthArg = process.argv.indexOf("--width");
const width = widthArg >= 0 ? Number(process.argv[widthArg + 1]) : 0.25;
const batchSize = 8;
const frames = 16;
const size = 112;
const steps = 2;
// a batch of 8 in one forward/backward runs out of the 4 GB wasm heap: gradients are accumulated over micro-batches
const microArg = process.argv.indexOf("--micro-batch");
const microBatch = microArg >= 0 ? Number(process.argv[microArg + 1]) : 2;
const replicasArg = process.argv.indexOf("--replicas");
const replicas = replicasArg >= 0 ? Number(process.argv[replicasArg + 1]) : 2;

const rng = rngFromSeed(1);
const view = () => ({ data: Uint8Array.from({ length: batchSize * frames * size * size * 3 }, () => rng.int(0, 256)), shape: [batchSize, frames, size, size, 3], layout: "BTHWC" as const });
const keys = Array.from({ length: batchSize }, (_, i) => `b${i}`);
const batch: Batch = { keys, videoIds: keys, views: { rgb0: view(), rgb1: view() }, targets: {}, meta: keys.map(() => ({})) };

// S3D's last width: mixed5c's four branches (384 + 384 + 128 + 128 at width 1); the MLP's hidden layer as wide
const channels = scaled(384, width) * 2 + scaled(128, width) * 2;
const spec = parsePipelineSpec({
  stages: [{ stage: "videos", data: "unused" }],
  train: { task: { kind: "infonce", backbone: { name: "s3d", width }, projection: "mlp", hidden: channels, dim: 128, queueSize: 2048 }, optimizer: { kind: "adam", lr: 1e-3, weightDecay: 1e-5 }, microBatch, replicas },
});
const trainer = await buildTrainer(spec, (line) => console.log(line), undefined, replicas);
const replica = replicas > 1 ? await ThreadReplica.start(spec) : undefined;
const step = () => (replica === undefined ? Promise.resolve(trainer.step(batch)) : trainer.stepWith(replica, batch));
await step();
const started = performance.now();
for (let i = 0; i < steps; i += 1) await step();
const ours = (performance.now() - started) / steps / batchSize;
const rss = process.memoryUsage().rss / 2 ** 20;
await replica?.close();
trainer.task.dispose();
trainer.optimizer.dispose();

const peer = spawnSync("/usr/bin/python3", [join(import.meta.dirname, "peers", "coclr_train_step.py"), String(width), String(batchSize), String(frames), String(size), String(steps)], { encoding: "utf8" });
const torch = peer.status === 0 ? (JSON.parse(peer.stdout.trim().split("\n").at(-1) ?? "{}") as { ms_per_clip: number; peak_rss_mb: number }) : undefined;
console.log(`S3D width ${width}, InfoNCE step, batch ${batchSize} × ${frames}×${size}×${size} (micro-batch ${microBatch}, ${replicas} replica${replicas > 1 ? "s" : ""}): clipflow ${ours.toFixed(0)} ms/clip, RSS ${rss.toFixed(0)} MB`);
if (torch === undefined) console.log(`PyTorch: unavailable (${peer.stderr.trim().split("\n").at(-1) ?? ""})`);
else console.log(`PyTorch CPU (2 threads) ${torch.ms_per_clip.toFixed(0)} ms/clip, peak ${torch.peak_rss_mb.toFixed(0)} MB → ${(ours / torch.ms_per_clip).toFixed(2)}× PyTorch (goal ≤ 1.5×)`);
