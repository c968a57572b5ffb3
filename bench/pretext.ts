/**
 * The PRP data pipeline benchmark (issue 4), both sides measured in this run on the same files: clipflow's
 * videos → dilatedSample (rate s ∈ {1, 2, 4, 8}, the 16·s span decoded once in libav, resized to 171×128, centre crop
 * 112, encoder clip + 32-frame target + DPAU motion map) → batch 8, on a 2-thread worker pool, against a PyTorch
 * DataLoader with 2 worker processes doing the same with OpenCV decoding (bench/peers/prp_pipeline.py; Debian's
 * python3-torch + python3-opencv). Files: 12 synthetic 320×240 H.264 videos of 10 s at 30 fps. Goal: ≥ 2× the peer's
 * clips/s. Our motion map leaves the pipeline at cell resolution and the train step resizes it to 112×112 (one map
 * per chunk of equal maps, `motionWeight`); that resize is timed here too (wasm, a batch of 8 with two clips of each
 * rate) and charged to our side serially, so the two do the same work; so is the train step's taking of the encoder
 * clip from the target (its even frames: the sample does not carry it twice).
 * Run: npm run bench:pretext
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCpuPool } from "../src/core/cpuPool.ts";
import { chain } from "../src/core/pipeline.ts";
import { runPipeline } from "../src/core/runner.ts";
import { listFolder } from "../src/io/datasets.ts";
import { synthesize } from "../src/io/synth.ts";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/models/backend.ts";
import { encoderClip, motionWeight } from "../src/models/prp.ts";
import { viewTensor } from "../src/models/task.ts";
import { batch } from "../src/stages/batch.ts";
import { dilatedSample } from "../src/stages/dilatedSample.ts";
import { listSource } from "../src/stages/listSource.ts";

const SAMPLES = 192;
const dir = mkdtempSync(join(tmpdir(), "clipflow-bench-pretext-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
await synthesize({ out: join(dir, "actions"), kind: "actions", videos: 12, seed: 5, width: 320, height: 240, seconds: 10, classes: 6 });
const files = listFolder(join(dir, "actions")).videos;
const items = Array.from({ length: SAMPLES + 8 }, (_, i) => ({ ...files[i % files.length]!, id: `${files[i % files.length]!.id}-${i}` }));

const cpu = createCpuPool(2);
let started = 0;
let clips = 0;
const summary = await runPipeline(
  chain(listSource({ items }), dilatedSample({ rates: [1, 2, 4, 8], width: 171, height: 128, crop: [112, 112] }, { concurrency: 4 }), batch({ size: 8 })),
  (b, info) => {
    // the first batch pays for worker start-up (as the peer's warm-up batch does)
    if (info.index === 0) started = performance.now();
    else clips += b.keys.length;
  },
  { cpu, maxInFlight: 32 },
);
const pipelineRate = (clips * 1000) / (performance.now() - started);
await cpu.close();
// the train step's share: the batch's cell maps [8, 32, 13, 13, 3] (two clips of each rate: each map constant within
// its chunks of 32/s frames, as dilatedSample makes them) → one 112×112 weight per run of equal maps
await selectBackend("wasm");
const frame = 13 * 13 * 3;
const cellData = new Float32Array(8 * 32 * frame);
for (let clip = 0; clip < 8; clip++) {
  const run = 32 / [1, 2, 4, 8][clip % 4]!;
  for (let t = 0; t < 32; t += run) {
    const chunk = Float32Array.from({ length: frame }, () => 0.8 + 1.2 * Math.random());
    for (let k = 0; k < run; k++) cellData.set(chunk, (clip * 32 + t + k) * frame);
  }
}
const cells = { data: cellData, shape: [8, 32, 13, 13, 3] };
/** ms per clip of a train-step operation on a batch of 8 (wasm ops run synchronously: no read-back needed). */
const timed = (fn: () => void) => {
  const run = () => tf.tidy(() => { fn(); });
  for (let i = 0; i < 3; i++) run();
  const start = performance.now();
  for (let i = 0; i < 20; i++) run();
  return (performance.now() - start) / 20 / 8;
};
const expandMsPerClip = timed(() => motionWeight(cells, 112, 112));
// and taking the encoder clip from the target (its even frames; the peer's loader delivers the clip itself):
// charged, the picking of its frames; not charged, their conversion to floats (a clip view needed it as well)
const bytes = (frames: number) => ({ data: new Uint8Array(8 * frames * 112 * 112 * 3), shape: [8, frames, 112, 112, 3], layout: "BTHWC" });
const batchOf = { keys: [], videoIds: [], meta: [], targets: {}, views: { target: bytes(32) } };
const clipOnly = { ...batchOf, views: { rgb: bytes(16) } };
const convertClip = timed(() => viewTensor(clipOnly, "rgb"));
const clipMsPerClip = Math.max(0, timed(() => encoderClip(batchOf)) - convertClip);
// bytes → floats of the clip and the target, done by our train step and by the peer's loader
const convertMsPerClip = convertClip + timed(() => viewTensor(batchOf, "target"));
const ours = 1000 / (1000 / pipelineRate + expandMsPerClip + clipMsPerClip);
writeFileSync(join(dir, "list.json"), JSON.stringify(files.map((f) => f.uri)));
const peer = spawnSync("/usr/bin/python3", [join(import.meta.dirname, "peers", "prp_pipeline.py"), join(dir, "list.json"), String(SAMPLES)], { encoding: "utf8" });
const theirs = peer.status === 0 ? (JSON.parse(peer.stdout) as { clips_per_s: number }).clips_per_s : undefined;
console.log(`clipflow PRP pipeline (2 worker threads): ${pipelineRate.toFixed(1)} clips/s over ${clips} clips (${summary.deadLetters} dead-lettered); in the train step: motion map resize ${expandMsPerClip.toFixed(2)} ms/clip, picking the encoder clip from the target ${clipMsPerClip.toFixed(2)} ms/clip → ${ours.toFixed(1)} clips/s (not charged: bytes → floats in the train step, ${convertMsPerClip.toFixed(2)} ms/clip for the clip and the target, which the peer's loader does)`);
if (theirs === undefined) console.log(`PyTorch DataLoader peer unavailable: ${peer.stderr.trim().split("\n").pop()}`);
else console.log(`PyTorch DataLoader + OpenCV (2 workers): ${theirs.toFixed(1)} clips/s\nratio ${(ours / theirs).toFixed(2)}× (goal ≥ 2×); with bytes → floats charged as well ${(1000 / (1000 / ours + convertMsPerClip) / theirs).toFixed(2)}×`);
