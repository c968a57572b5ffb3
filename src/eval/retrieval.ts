/**
 * Nearest-neighbour video retrieval (METHODS.md §5): every test video is a query against the train videos; R@k is
 * the fraction of queries whose k nearest train videos include one of the query's class. Two protocols:
 * - "prp" (VCOP's retrieve_clips.py, used by PRP): cosine similarity of the raw features;
 * - "coclr": features centred on the mean of their own set, L2-normalised, then dot product.
 * Ties in similarity are broken by gallery order (stable), so results are exact and reproducible.
 */
import { ClipflowError } from "../core/errors.ts";

export interface FeatureSet {
  /** Row-major [n, dim]. */
  features: Float32Array;
  labels: ArrayLike<number>;
  dim: number;
}

export type RetrievalProtocol = "prp" | "coclr";

export const defaultKs = [1, 5, 10, 20, 50] as const;

function rows(set: FeatureSet, name: string): number {
  const n = set.labels.length;
  if (set.dim < 1 || set.features.length !== n * set.dim) {
    throw new ClipflowError("ConfigError", `${name}: ${set.features.length} feature values for ${n} videos × ${set.dim} dims`, { field: name });
  }
  return n;
}

/** Centres on the set mean (optional) and scales every row to unit length; zero rows stay zero. */
export function normalizeRows(set: FeatureSet, centre: boolean): Float32Array {
  const n = set.labels.length;
  const { dim } = set;
  const out = new Float32Array(set.features);
  if (centre && n > 0) {
    const mean = new Float64Array(dim);
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (out[i * dim + d] as number);
    for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) / n;
    for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) out[i * dim + d] = (out[i * dim + d] as number) - (mean[d] as number);
  }
  for (let i = 0; i < n; i++) {
    let norm = 0;
    for (let d = 0; d < dim; d++) norm += (out[i * dim + d] as number) ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let d = 0; d < dim; d++) out[i * dim + d] = (out[i * dim + d] as number) * scale;
  }
  return out;
}

/** R@k for each k (as fractions in [0, 1]). */
export function retrievalRecall(
  gallery: FeatureSet,
  queries: FeatureSet,
  options: { protocol?: RetrievalProtocol; ks?: readonly number[] } = {},
): Record<string, number> {
  const ks = [...new Set(options.ks ?? defaultKs)];
  const ranks = firstHitRanks(gallery, queries, { protocol: options.protocol ?? "prp", maxK: Math.max(...ks) });
  return recallAt(ranks, ks);
}

/** R@k from first-hit ranks (see firstHitRanks), over all queries or the given query indices (a bootstrap resample). */
export function recallAt(ranks: Int32Array, ks: readonly number[], indices?: ArrayLike<number>): Record<string, number> {
  const n = indices === undefined ? ranks.length : indices.length;
  const out: Record<string, number> = {};
  for (const k of ks) {
    let hits = 0;
    for (let i = 0; i < n; i++) {
      const rank = ranks[indices === undefined ? i : (indices[i] as number)] as number;
      if (rank >= 0 && rank < k) hits++;
    }
    out[`R@${k}`] = hits / n;
  }
  return out;
}

/**
 * For every query, the 0-based rank among its maxK nearest train videos of the first one of its class, or −1 when none
 * of them is (R@k counts the queries with 0 ≤ rank < k).
 */
export function firstHitRanks(gallery: FeatureSet, queries: FeatureSet, options: { protocol: RetrievalProtocol; maxK: number }): Int32Array {
  const nGallery = rows(gallery, "train");
  const nQuery = rows(queries, "test");
  if (gallery.dim !== queries.dim) {
    throw new ClipflowError("ConfigError", `train features have ${gallery.dim} dims, test features ${queries.dim}`, { field: "dim" });
  }
  if (nGallery === 0 || nQuery === 0) throw new ClipflowError("ConfigError", "retrieval needs at least one train and one test video");
  const centre = options.protocol === "coclr";
  const g = normalizeRows(gallery, centre);
  const q = normalizeRows(queries, centre);
  const { dim } = gallery;
  const maxK = Math.min(options.maxK, nGallery);
  const ranks = new Int32Array(nQuery);
  const sims = new Float64Array(nGallery);
  for (let i = 0; i < nQuery; i++) {
    for (let j = 0; j < nGallery; j++) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += (q[i * dim + d] as number) * (g[j * dim + d] as number);
      sims[j] = dot;
    }
    // top-maxK by partial selection (stable: equal similarities keep gallery order)
    const top: number[] = [];
    for (let j = 0; j < nGallery; j++) {
      const s = sims[j] as number;
      if (top.length === maxK && s <= (sims[top[maxK - 1] as number] as number)) continue;
      let at = top.length;
      while (at > 0 && (sims[top[at - 1] as number] as number) < s) at--;
      top.splice(at, 0, j);
      if (top.length > maxK) top.pop();
    }
    const label = queries.labels[i];
    ranks[i] = top.findIndex((j) => gallery.labels[j] === label);
  }
  return ranks;
}
