/**
 * The streaming source: videos read sequentially out of tar shards (local or http(s); see src/io/shards.ts), in the
 * shard order and assignment drawn from (seed, epoch, rank, worldSize, worker). Each video is written to a temporary
 * file for the decoder (marked `meta.ephemeral`: `decode` deletes it once decoded); the source also keeps at most the
 * newest `keep` of them, deleting older ones as it goes (the runner's in-flight bound means nothing downstream can
 * still need them), and the folder goes when the process exits (items may still be downstream when the source ends).
 * Pair it with
 * `shuffle` for a bounded shuffle buffer across shards.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { defineStage } from "../core/stage.ts";
import type { VideoRef } from "../core/types.ts";
import { assignShards, readShard, resolveShards } from "../io/shards.ts";

export const shards = defineStage({
  name: "shards",
  in: "none",
  out: "video",
  example: { data: "data/shards/index.json" },
  config: z.object({
    /** An index.json (local or URL), a .tar, or a comma-separated list of them. */
    data: z.string().min(1),
    rank: z.int().min(0).default(0),
    worldSize: z.int().min(1).default(1),
    worker: z.int().min(0).default(0),
    workers: z.int().min(1).default(1),
    /** Temporary video files kept at once; must exceed maxInFlight plus any shuffle buffer downstream. */
    keep: z.int().min(1).default(256),
  }),
  create: (config) => ({
    kind: "source",
    async *items(ctx) {
      const all = await resolveShards(config.data);
      const mine = assignShards(all, { seed: ctx.seed, epoch: ctx.epoch, rank: config.rank, worldSize: config.worldSize, worker: config.worker, workers: config.workers });
      const dir = mkdtempSync(join(tmpdir(), "clipflow-shard-"));
      process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
      const live: string[] = [];
      {
        for (const shard of mine) {
          for await (const sample of readShard(shard.uri, ctx.signal, shard.samples)) {
            const path = join(dir, `${sample.key}${sample.ext}`);
            writeFileSync(path, sample.data);
            live.push(path);
            if (live.length > config.keep) rmSync(live.shift() as string, { force: true });
            const { ext: _ext, ...record } = sample.record as VideoRef & { ext?: string };
            yield { ...record, uri: path, meta: { ...record.meta, shard: sample.shard, ephemeral: true } } satisfies VideoRef;
          }
        }
      }
    },
  }),
});
