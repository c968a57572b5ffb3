/**
 * Tar shards for streaming datasets larger than a disk or a machine: one sample per video (the encoded file, stored
 * as <key><ext>, plus <key>.json with its VideoRef record), written in order with an index.json (shard names, sample
 * counts, bytes, keys). Shards are read sequentially, entry by entry, from a local file or an http(s) URL (the body
 * is streamed, never downloaded whole first). Which shards a trainer reads is decided by `assignShards` from
 * (seed, epoch, rank, worldSize, worker, workers): a permutation per epoch, split without overlap.
 */
import { createReadStream, createWriteStream, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract, pack } from "tar-stream";
import { ClipflowError } from "../core/errors.ts";
import { rngFromString } from "../core/rng.ts";
import type { VideoRef } from "../core/types.ts";
import { isUrl } from "./uri.ts";

export interface ShardIndex {
  format: "clipflow-shards/1";
  shards: { name: string; samples: number; bytes: number; keys: string[] }[];
}

export interface ShardSample {
  key: string;
  record: VideoRef;
  /** The encoded video. */
  data: Uint8Array;
  ext: string;
  shard: string;
}

/** A key safe as a tar member name: the video id with anything but [A-Za-z0-9._-] replaced. */
export function shardKey(id: string, index: number): string {
  return `${String(index).padStart(7, "0")}_${id.replace(/[^A-Za-z0-9._-]/g, "_")}`.slice(0, 90);
}

/** Writes the videos into tar shards of `perShard` samples, plus index.json; returns the index. */
export async function writeShards(videos: VideoRef[], out: string, perShard: number, onShard?: (name: string) => void): Promise<ShardIndex> {
  if (!Number.isInteger(perShard) || perShard < 1) throw new ClipflowError("ConfigError", `per-shard must be a positive integer, got ${perShard}`, { field: "--per-shard" });
  mkdirSync(out, { recursive: true });
  const index: ShardIndex = { format: "clipflow-shards/1", shards: [] };
  for (let start = 0, n = 0; start < videos.length; start += perShard, n++) {
    const name = `shard-${String(n).padStart(6, "0")}.tar`;
    const tar = pack();
    const written = pipeline(tar, createWriteStream(join(out, name)));
    const keys: string[] = [];
    for (const [offset, video] of videos.slice(start, start + perShard).entries()) {
      const key = shardKey(video.id, start + offset);
      let data: Buffer;
      try {
        data = readFileSync(video.uri);
      } catch (error) {
        tar.destroy();
        await written.catch(() => {});
        throw new ClipflowError("MissingFile", `cannot read for sharding: ${(error as Error).message}`, { uri: video.uri, key: video.id });
      }
      const ext = extname(video.uri) || ".mp4";
      const { uri: _uri, ...record } = video;
      tar.entry({ name: `${key}${ext}` }, data);
      tar.entry({ name: `${key}.json` }, JSON.stringify({ ...record, ext }));
      keys.push(key);
    }
    tar.finalize();
    await written;
    index.shards.push({ name, samples: keys.length, bytes: statSync(join(out, name)).size, keys });
    onShard?.(name);
  }
  writeFileSync(join(out, "index.json"), `${JSON.stringify(index, null, 1)}\n`);
  return index;
}

async function openStream(uri: string, signal?: AbortSignal): Promise<Readable> {
  if (isUrl(uri)) {
    let response: Response;
    try {
      response = await fetch(uri, signal ? { signal } : {});
    } catch (error) {
      throw new ClipflowError("MissingFile", `cannot fetch: ${(error as Error).message}`, { uri });
    }
    if (!response.ok || response.body === null) throw new ClipflowError("MissingFile", `HTTP ${response.status}`, { uri });
    return Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>);
  }
  try {
    statSync(uri);
  } catch {
    throw new ClipflowError("MissingFile", "no such shard", { uri });
  }
  return createReadStream(uri);
}

/**
 * Streams the samples of one shard, in order. A damaged shard is a CorruptFile error naming it; with `expected` (from
 * the index), a shard cut cleanly between two samples is caught too.
 */
export async function* readShard(uri: string, signal?: AbortSignal, expected?: number): AsyncGenerator<ShardSample> {
  const source = await openStream(uri, signal);
  const tar = extract();
  source.on("error", (error) => tar.destroy(error));
  source.pipe(tar);
  let pending: { key: string; data?: Uint8Array; ext?: string; record?: VideoRef } | undefined;
  let count = 0;
  const shard = basename(uri);
  try {
    for await (const entry of tar) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const name = entry.header.name;
      const ext = extname(name);
      const key = name.slice(0, name.length - ext.length);
      if (pending !== undefined && pending.key !== key) {
        throw new ClipflowError("CorruptFile", `sample ${pending.key} is incomplete (needs a video and a .json record)`, { uri });
      }
      pending ??= { key };
      if (ext === ".json") {
        try {
          pending.record = JSON.parse(body.toString("utf8")) as VideoRef;
        } catch {
          throw new ClipflowError("CorruptFile", `bad JSON record for ${key}`, { uri, key });
        }
      } else {
        pending.data = new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
        pending.ext = ext;
      }
      if (pending.data !== undefined && pending.record !== undefined) {
        count++;
        yield { key, record: pending.record, data: pending.data, ext: pending.ext ?? ".mp4", shard };
        pending = undefined;
      }
    }
  } catch (error) {
    if (error instanceof ClipflowError) throw error;
    throw new ClipflowError("CorruptFile", `cannot read shard: ${(error as Error).message}`, { uri, cause: error });
  } finally {
    source.destroy();
  }
  if (pending !== undefined) throw new ClipflowError("CorruptFile", `shard ends inside sample ${pending.key}`, { uri });
  if (expected !== undefined && count !== expected) {
    throw new ClipflowError("CorruptFile", `shard has ${count} samples, its index says ${expected}`, { uri });
  }
}

export interface Assignment {
  seed: number;
  epoch: number;
  rank: number;
  worldSize: number;
  worker: number;
  workers: number;
}

/**
 * The shards this (rank, worker) reads in this epoch: all shards in an order drawn from (seed, epoch), dealt round
 * robin over worldSize × workers readers. Every shard goes to exactly one reader; the same inputs give the same list.
 */
export function assignShards<T>(shards: readonly T[], assignment: Assignment): T[] {
  const { seed, epoch, rank, worldSize, worker, workers } = assignment;
  if (!(rank >= 0 && rank < worldSize && worker >= 0 && worker < workers)) {
    throw new ClipflowError("ConfigError", `rank ${rank}/${worldSize}, worker ${worker}/${workers} is not a valid reader`, { field: "rank" });
  }
  const order = rngFromString(`${seed}\u0000${epoch}\u0000shards`).shuffle(shards);
  const reader = rank * workers + worker;
  return order.filter((_, i) => i % (worldSize * workers) === reader);
}

export interface ShardRef {
  uri: string;
  /** Sample count from the index, when there is one. */
  samples?: number | undefined;
}

/** Shards from an index.json (local or http), a single .tar, or a comma-separated list of them. */
export async function resolveShards(data: string): Promise<ShardRef[]> {
  const parts = data.split(",").map((part) => part.trim()).filter((part) => part !== "");
  const out: ShardRef[] = [];
  for (const part of parts) {
    if (part.endsWith(".tar")) {
      out.push({ uri: part });
      continue;
    }
    if (!part.endsWith("index.json")) throw new ClipflowError("ConfigError", `${part} is neither a .tar shard nor an index.json`, { uri: part });
    let text: string;
    if (isUrl(part)) {
      const response = await fetch(part).catch((error: Error) => {
        throw new ClipflowError("MissingFile", `cannot fetch: ${error.message}`, { uri: part });
      });
      if (!response.ok) throw new ClipflowError("MissingFile", `HTTP ${response.status}`, { uri: part });
      text = await response.text();
    } else {
      try {
        text = readFileSync(part, "utf8");
      } catch {
        throw new ClipflowError("MissingFile", "no such shard index", { uri: part });
      }
    }
    const index = JSON.parse(text) as ShardIndex;
    if (index.format !== "clipflow-shards/1") throw new ClipflowError("CorruptFile", "not a clipflow shard index", { uri: part });
    const base = isUrl(part) ? part.slice(0, part.lastIndexOf("/")) : dirname(part);
    for (const shard of index.shards) out.push({ uri: isUrl(part) ? `${base}/${shard.name}` : join(base, shard.name), samples: shard.samples });
  }
  return out;
}
