/**
 * Feature files (DESIGN.md §7 `clipflow extract`): HDF5 through h5wasm (WebAssembly libhdf5, no native install), one
 * float32 dataset per video name of shape [clips, dim] (TSP-style localisation features, readable by h5py), plus a
 * `video_features` group with the clip-averaged feature of each video. Written to a temporary name, then renamed.
 */
import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { ClipflowError } from "../core/errors.ts";

export interface FeatureEntry {
  name: string;
  data: Float32Array;
  shape: [number, number];
}

export async function writeFeaturesH5(path: string, perClip: FeatureEntry[], averaged: FeatureEntry[], attributes: Record<string, string | number> = {}): Promise<void> {
  const h5wasm = await import("h5wasm/node");
  await h5wasm.ready;
  const tmp = `${path}.tmp-${process.pid}`;
  if (existsSync(tmp)) await rm(tmp);
  const file = new h5wasm.File(tmp, "w");
  try {
    const seen = new Set<string>();
    for (const entry of perClip) {
      if (entry.name.includes("/") || seen.has(entry.name)) throw new ClipflowError("ConfigError", `video name "${entry.name}" cannot be an HDF5 dataset name (contains / or repeats)`, { field: "id" });
      seen.add(entry.name);
      file.create_dataset({ name: entry.name, data: entry.data, shape: entry.shape, dtype: "<f" });
    }
    file.create_group("video_features");
    const group = file.get("video_features") as unknown as { create_dataset(args: { name: string; data: Float32Array; shape: number[]; dtype: string }): unknown };
    for (const entry of averaged) group.create_dataset({ name: entry.name, data: entry.data, shape: entry.shape, dtype: "<f" });
    for (const [key, value] of Object.entries(attributes)) file.create_attribute(key, value);
  } finally {
    file.close();
  }
  await rename(tmp, path);
}

export async function readFeaturesH5(path: string): Promise<Map<string, { data: Float32Array; shape: number[] }>> {
  if (!existsSync(path)) throw new ClipflowError("MissingFile", `no feature file at ${path}`, { uri: path });
  const h5wasm = await import("h5wasm/node");
  await h5wasm.ready;
  const file = new h5wasm.File(path, "r");
  try {
    const out = new Map<string, { data: Float32Array; shape: number[] }>();
    for (const name of file.keys()) {
      const item = file.get(name) as unknown as { value?: unknown; shape?: number[] };
      if (item?.shape !== undefined && item.value instanceof Float32Array) out.set(name, { data: item.value, shape: item.shape });
    }
    return out;
  } finally {
    file.close();
  }
}
