/**
 * Pretrained encoders against random initialisations of the same architecture, with the uncertainty that decides
 * whether a margin is clear. Two sources of noise move these numbers: the weights a run starts from (and the run's
 * own seed), seen as the spread within each group, and the finite test set (R@1 on 156 videos moves by 0.6 points per
 * query), estimated by a bootstrap over test videos: every resample draws the test videos with replacement, scores
 * every encoder on the same draw, and takes the difference of the two groups' means. A margin is called clear when
 * the interval of that difference lies above zero and every pretrained encoder beats every random one.
 * Pure arithmetic on per-video outcomes (first-hit ranks and probe predictions); extraction happens elsewhere.
 */
import { ClipflowError } from "../core/errors.ts";
import { rngFromSeed } from "../core/rng.ts";
import { recallAt } from "./retrieval.ts";

export interface ScoredEncoder {
  name: string;
  randomInit: boolean;
  /** Per test video: rank of the first same-class train video among its nearest (−1: none); see firstHitRanks. */
  ranks: Int32Array;
  /** Per test video: 1 when the linear probe predicts its class (absent: no probe). */
  correct?: Uint8Array | undefined;
}

export interface CompareOptions {
  ks?: readonly number[];
  /** Bootstrap resamples of the test videos (default 2000). */
  resamples?: number;
  /** Two-sided level of the interval (default 0.95). */
  level?: number;
  seed?: number;
}

export interface GroupSummary {
  mean: number;
  /** Sample standard deviation across the group's encoders (null with one encoder). */
  sd: number | null;
  count: number;
}

export interface Margin {
  /** Mean of the pretrained encoders minus mean of the random ones, on the whole test set. */
  mean: number;
  /** Bootstrap interval of that difference over test videos. */
  low: number;
  high: number;
  /** The weakest pretrained encoder minus the strongest random one. */
  worstCase: number;
  clear: boolean;
}

export interface Comparison {
  testVideos: number;
  resamples: number;
  level: number;
  metrics: string[];
  encoders: Array<{ name: string; randomInit: boolean; scores: Record<string, number> }>;
  pretrained: Record<string, GroupSummary>;
  randomInit: Record<string, GroupSummary>;
  margin: Record<string, Margin>;
}

/** Every metric of one encoder on the test videos at `indices` (all of them when absent). */
function scoresOf(encoder: ScoredEncoder, ks: readonly number[], indices?: ArrayLike<number>): Record<string, number> {
  const scores = recallAt(encoder.ranks, ks, indices);
  const { correct } = encoder;
  if (correct !== undefined) {
    const n = indices === undefined ? correct.length : indices.length;
    let right = 0;
    for (let i = 0; i < n; i++) right += correct[indices === undefined ? i : (indices[i] as number)] as number;
    scores.accuracy = right / n;
  }
  return scores;
}

const meanOf = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

function summary(values: number[]): GroupSummary {
  const mean = meanOf(values);
  const sd = values.length < 2 ? null : Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd, count: values.length };
}

/** The q-quantile of sorted values, linear between order statistics. */
function quantile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return (sorted[lo] as number) + (at - lo) * ((sorted[hi] as number) - (sorted[lo] as number));
}

export function compareEncoders(encoders: ScoredEncoder[], options: CompareOptions = {}): Comparison {
  const ks = options.ks ?? [1, 5, 10];
  const resamples = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  if (encoders.every((e) => e.randomInit) || encoders.every((e) => !e.randomInit)) {
    throw new ClipflowError("ConfigError", "a comparison needs at least one pretrained and one random-init encoder", { field: "encoders" });
  }
  const n = encoders[0]!.ranks.length;
  for (const e of encoders) {
    if (e.ranks.length !== n || (e.correct !== undefined && e.correct.length !== n)) {
      throw new ClipflowError("ConfigError", `${e.name}: scored on ${e.ranks.length} test videos, the others on ${n}`, { field: "testVideos" });
    }
  }
  if (n === 0) throw new ClipflowError("ConfigError", "a comparison needs test videos", { field: "testVideos" });
  // accuracy only when every encoder has a probe (never half-computed)
  const withProbe = encoders.every((e) => e.correct !== undefined);
  const scored = withProbe ? encoders : encoders.map((e) => ({ ...e, correct: undefined }));
  const full = scored.map((e) => scoresOf(e, ks));
  const metrics = Object.keys(full[0]!);
  const trainedAt = encoders.flatMap((e, i) => (e.randomInit ? [] : [i]));
  const randomAt = encoders.flatMap((e, i) => (e.randomInit ? [i] : []));
  const valuesOf = (at: number[], scores: Array<Record<string, number>>, metric: string) => at.map((i) => scores[i]![metric] as number);

  const diffs = new Map(metrics.map((m) => [m, new Float64Array(resamples)]));
  const rng = rngFromSeed(options.seed ?? 0);
  const draw = new Int32Array(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) draw[i] = rng.int(0, n - 1);
    const scores = scored.map((e) => scoresOf(e, ks, draw));
    for (const m of metrics) diffs.get(m)![b] = meanOf(valuesOf(trainedAt, scores, m)) - meanOf(valuesOf(randomAt, scores, m));
  }

  const pretrained: Record<string, GroupSummary> = {};
  const randomInit: Record<string, GroupSummary> = {};
  const margin: Record<string, Margin> = {};
  for (const m of metrics) {
    const trainedValues = valuesOf(trainedAt, full, m);
    const randomValues = valuesOf(randomAt, full, m);
    pretrained[m] = summary(trainedValues);
    randomInit[m] = summary(randomValues);
    const sorted = diffs.get(m)!.sort();
    const low = resamples > 0 ? quantile(sorted, (1 - level) / 2) : Number.NaN;
    const high = resamples > 0 ? quantile(sorted, 1 - (1 - level) / 2) : Number.NaN;
    const worstCase = Math.min(...trainedValues) - Math.max(...randomValues);
    margin[m] = { mean: pretrained[m].mean - randomInit[m].mean, low, high, worstCase, clear: low > 0 && worstCase > 0 };
  }
  return {
    testVideos: n,
    resamples,
    level,
    metrics,
    encoders: encoders.map((e, i) => ({ name: e.name, randomInit: e.randomInit, scores: full[i]! })),
    pretrained,
    randomInit,
    margin,
  };
}

/** The comparison as a plain-text table (percentages), for the terminal. */
export function formatComparison(c: Comparison): string {
  const pct = (v: number) => (100 * v).toFixed(1);
  const line = (label: string, cells: string[]) => `${label.slice(0, 27).padEnd(27)}${cells.map((cell) => cell.padStart(13)).join("")}`;
  const spread = (g: GroupSummary) => `${pct(g.mean)} ± ${g.sd === null ? "-" : pct(g.sd)}`;
  const margins = c.metrics.map((m) => {
    const { mean, low, high, worstCase, clear } = c.margin[m]!;
    return `  ${m}: ${pct(mean)} [${pct(low)}, ${pct(high)}]; weakest pretrained − strongest random ${pct(worstCase)}${clear ? " → clear" : ""}`;
  });
  return [
    `${line("encoder", c.metrics)}   (%, ${c.testVideos} test videos)`,
    ...c.encoders.map((e) => line(e.randomInit ? `${e.name} (random)` : e.name, c.metrics.map((m) => pct(e.scores[m] as number)))),
    line("pretrained mean ± sd", c.metrics.map((m) => spread(c.pretrained[m]!))),
    line("random init mean ± sd", c.metrics.map((m) => spread(c.randomInit[m]!))),
    `margin in points [${Math.round(100 * c.level)} % bootstrap interval over test videos, ${c.resamples} resamples]:`,
    ...margins,
  ].join("\n");
}
