/**
 * Checkpoints: one directory per checkpoint under RUN/checkpoints/ (step-00000123/) with tensors.bin (float32,
 * little-endian, concatenated) and state.json (the parsed spec, tensor index with shapes and offsets, SHA-256 of
 * tensors.bin, scalars: optimiser, schedule, RNG position, epoch and cursor). Written atomically: into a temporary
 * directory, fsynced, renamed; then RUN/checkpoints/latest.json is replaced the same way. Reading verifies sizes and
 * the hash, so a truncated or corrupt checkpoint is an error, never a partial load.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { ClipflowError } from "../core/errors.ts";
import type { NamedArrays } from "../models/trainer.ts";

export interface CheckpointMeta {
  format: "clipflow-checkpoint/1";
  step: number;
  epoch: number;
  /** Batches of `epoch` already consumed (resume skips them). */
  cursor: number;
  spec: unknown;
  scalars: Record<string, unknown>;
  tensors: Array<{ name: string; shape: number[]; offset: number; length: number }>;
  sha256: string;
  createdAt: string;
}

async function writeDurable(path: string, data: Uint8Array | string): Promise<void> {
  const handle = await open(path, "w");
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeCheckpoint(
  runDir: string,
  state: NamedArrays,
  info: { step: number; epoch: number; cursor: number; spec: unknown },
): Promise<string> {
  const root = join(runDir, "checkpoints");
  await mkdir(root, { recursive: true });
  const name = `step-${String(info.step).padStart(8, "0")}`;
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  let total = 0;
  const index: CheckpointMeta["tensors"] = [];
  for (const [tensorName, value] of state.tensors) {
    index.push({ name: tensorName, shape: value.shape, offset: total, length: value.data.length });
    total += value.data.length;
  }
  const floats = new Float32Array(total);
  for (const entry of index) floats.set(state.tensors.get(entry.name)!.data, entry.offset);
  const bytes = new Uint8Array(floats.buffer);
  const meta: CheckpointMeta = {
    format: "clipflow-checkpoint/1",
    step: info.step,
    epoch: info.epoch,
    cursor: info.cursor,
    spec: info.spec,
    scalars: state.scalars,
    tensors: index,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    createdAt: new Date().toISOString(),
  };
  await writeDurable(join(tmp, "tensors.bin"), bytes);
  await writeDurable(join(tmp, "state.json"), JSON.stringify(meta, (_, v) => (v === Infinity ? "Infinity" : v)));
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const latestTmp = join(root, `.latest-${process.pid}.json`);
  await writeDurable(latestTmp, JSON.stringify({ checkpoint: name, step: info.step }));
  await rename(latestTmp, join(root, "latest.json"));
  return final;
}

/** A run directory (its latest checkpoint), a checkpoints/ directory, or one checkpoint directory. */
export async function resolveCheckpoint(path: string): Promise<string> {
  if (!existsSync(path)) throw new ClipflowError("MissingFile", `no checkpoint at ${path}`, { uri: path, field: "checkpoint" });
  if (existsSync(join(path, "state.json"))) return path;
  for (const root of [join(path, "checkpoints"), path]) {
    const latest = join(root, "latest.json");
    if (existsSync(latest)) {
      let name: unknown;
      try {
        name = (JSON.parse(await readFile(latest, "utf8")) as { checkpoint?: unknown }).checkpoint;
      } catch (error) {
        throw new ClipflowError("CheckpointError", `${latest} is not valid JSON`, { uri: latest, cause: error });
      }
      if (typeof name !== "string" || basename(name) !== name) throw new ClipflowError("CheckpointError", `${latest} names no checkpoint`, { uri: latest, field: "checkpoint" });
      return join(root, name);
    }
  }
  throw new ClipflowError("MissingFile", `${path} holds no checkpoint (no state.json, no checkpoints/latest.json)`, { uri: path, field: "checkpoint" });
}

export async function readCheckpoint(path: string): Promise<{ dir: string; meta: CheckpointMeta; state: NamedArrays }> {
  const dir = await resolveCheckpoint(path);
  const statePath = join(dir, "state.json");
  const binPath = join(dir, "tensors.bin");
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(await readFile(statePath, "utf8"), (_, v) => (v === "Infinity" ? Infinity : v)) as CheckpointMeta;
  } catch (error) {
    throw new ClipflowError("CheckpointError", `${statePath} is missing or not valid JSON`, { uri: statePath, cause: error });
  }
  if (meta.format !== "clipflow-checkpoint/1" || !Array.isArray(meta.tensors)) {
    throw new ClipflowError("CheckpointError", `${statePath} is not a clipflow checkpoint (format ${String(meta.format)})`, { uri: statePath, field: "format" });
  }
  const expectedFloats = meta.tensors.reduce((sum, entry) => sum + entry.length, 0);
  const size = existsSync(binPath) ? (await stat(binPath)).size : -1;
  if (size !== expectedFloats * 4) {
    throw new ClipflowError("CheckpointError", `${binPath} has ${size < 0 ? "no file" : `${size} bytes`}, the index says ${expectedFloats * 4}: truncated or mismatched`, { uri: binPath, field: "tensors" });
  }
  const bytes = await readFile(binPath);
  const hash = createHash("sha256").update(bytes).digest("hex");
  if (hash !== meta.sha256) throw new ClipflowError("CheckpointError", `${binPath} is corrupt (SHA-256 ${hash.slice(0, 12)}…, expected ${String(meta.sha256).slice(0, 12)}…)`, { uri: binPath, field: "sha256" });
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const tensors = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const entry of meta.tensors) tensors.set(entry.name, { data: floats.subarray(entry.offset, entry.offset + entry.length), shape: entry.shape });
  return { dir, meta, state: { tensors, scalars: meta.scalars } };
}

/** The run directory a checkpoint directory belongs to (RUN/checkpoints/step-… → RUN). */
export function runDirOf(checkpointDir: string): string {
  return dirname(dirname(checkpointDir));
}

