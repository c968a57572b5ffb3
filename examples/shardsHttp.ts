/**
 * Training from tar shards streamed over HTTP: writes shards of a dataset (as `clipflow shard` does), serves them from
 * a local HTTP server (stand-in for object storage or a CDN), and pretrains PRP from the URL of their index. Videos are
 * read sequentially out of each shard, decoded once, and dropped; a bounded shuffle buffer mixes shards.
 * Run: npx tsx examples/shardsHttp.ts [DATA] [RUN] [STEPS]   (DATA defaults to data/demo-actions/trainlist01.txt)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/io/datasets.ts";
import { writeShards } from "../src/io/shards.ts";
import { serveDirectory } from "../src/io/staticServer.ts";
import { pretrain } from "../src/pipelines/pretrain.ts";
import { parsePipelineSpec } from "../src/stages/index.ts";

const [data = "data/demo-actions/trainlist01.txt", out = "runs/shards-http", steps = "10"] = process.argv.slice(2);
const shardDir = mkdtempSync(join(tmpdir(), "clipflow-example-shards-"));
const index = await writeShards(openDataset(data).videos, shardDir, 8);

const server = await serveDirectory(shardDir);
const url = `${server.url}/index.json`;

const spec = parsePipelineSpec({
  name: "prp-from-shards",
  stages: [
    { stage: "shards", data: url },
    { stage: "shuffle", buffer: 8 },
    { stage: "dilatedSample", rates: [1, 2, 4], shortVideo: "lowerRate", width: 32, height: 32, crop: [32, 32] },
    { stage: "batch", size: 4 },
  ],
  train: { task: { kind: "prp", backbone: { name: "r3d", width: 0.0625 }, rates: 3 }, optimizer: { lr: 0.02, groups: { final: 10 } }, epochs: 100, steps: Number(steps) },
});
try {
  const result = await pretrain({ spec, out, progress: false });
  console.log(`shards over HTTP: ${index.shards.length} shards from ${url}, ${result.steps} steps, last loss ${result.lastLoss.toFixed(4)}, run in ${out}`);
} finally {
  await server.close();
  rmSync(shardDir, { recursive: true, force: true });
}
