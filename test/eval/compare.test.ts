import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ClipflowError } from "../../src/core/errors.ts";
import { compareEncoders, formatComparison, type ScoredEncoder } from "../../src/eval/compare.ts";
import { firstHitRanks, recallAt, retrievalRecall } from "../../src/eval/retrieval.ts";

const enc = (name: string, randomInit: boolean, ranks: number[], correct?: number[]): ScoredEncoder => ({
  name,
  randomInit,
  ranks: Int32Array.from(ranks),
  ...(correct ? { correct: Uint8Array.from(correct) } : {}),
});

test("first-hit ranks give retrievalRecall's R@k, also on a resample of the queries", () => {
  const set = (rows: number[][], labels: number[]) => ({ features: new Float32Array(rows.flat()), labels, dim: 2 });
  const gallery = set([[1, 0], [0, 1], [-1, 0], [0.9, 0.1]], [0, 1, 2, 1]);
  const queries = set([[1, 0.05], [-2, 0], [0, -1]], [1, 2, 3]);
  const ranks = firstHitRanks(gallery, queries, { protocol: "prp", maxK: 4 });
  assert.deepEqual([...ranks], [1, 0, -1]);
  assert.deepEqual(recallAt(ranks, [1, 2]), retrievalRecall(gallery, queries, { ks: [1, 2] }));
  // the resample [1, 1, 0]: hits at rank 0, 0, 1
  assert.deepEqual(recallAt(ranks, [1, 2], [1, 1, 0]), { "R@1": 2 / 3, "R@2": 1 });
});

test("a hand-worked comparison: scores, group means and spreads, margins", () => {
  const c = compareEncoders(
    [
      enc("a", false, [0, 0, 1, -1], [1, 1, 0, 1]),
      enc("b", false, [0, 2, 0, 0], [1, 0, 1, 1]),
      enc("r0", true, [1, -1, 0, 3], [0, 1, 0, 0]),
      enc("r1", true, [-1, 5, 0, 1], [1, 0, 0, 0]),
    ],
    { ks: [1, 5], resamples: 500 },
  );
  assert.deepEqual(c.metrics, ["R@1", "R@5", "accuracy"]);
  assert.deepEqual(c.encoders.map((e) => e.scores), [
    { "R@1": 0.5, "R@5": 0.75, accuracy: 0.75 },
    { "R@1": 0.75, "R@5": 1, accuracy: 0.75 },
    { "R@1": 0.25, "R@5": 0.75, accuracy: 0.25 },
    { "R@1": 0.25, "R@5": 0.5, accuracy: 0.25 },
  ]);
  assert.deepEqual(c.pretrained["R@1"], { mean: 0.625, sd: Math.sqrt(0.125 ** 2 * 2), count: 2 });
  assert.deepEqual(c.randomInit["R@1"], { mean: 0.25, sd: 0, count: 2 });
  const r1 = c.margin["R@1"]!;
  assert.equal(r1.mean, 0.375);
  assert.equal(r1.worstCase, 0.25);
  assert.ok(r1.low <= r1.mean && r1.mean <= r1.high, JSON.stringify(r1));
  assert.equal(c.margin["R@5"]!.worstCase, 0);
  assert.equal(c.margin["R@5"]!.clear, false); // b ties r0's best R@5: not every pretrained run beats every random one
  assert.equal(c.margin.accuracy!.mean, 0.5);
  const table = formatComparison(c);
  assert.match(table, /\npretrained mean ± sd\s+62\.5 ± 17\.7\s+87\.5 ± 17\.7\s+75\.0 ± 0\.0\n/);
  assert.match(table, /accuracy: 50\.0 \[[\d.-]+, [\d.-]+\]; weakest pretrained − strongest random 50\.0/);
});

test("identical groups have a zero margin with a zero-width interval, never clear", () => {
  const ranks = [0, 3, -1, 1, 0, 2];
  const c = compareEncoders([enc("a", false, ranks, [1, 0, 1, 0, 1, 1]), enc("r", true, ranks, [1, 0, 1, 0, 1, 1])], { resamples: 200 });
  for (const m of c.metrics) assert.deepEqual(c.margin[m], { mean: 0, low: 0, high: 0, worstCase: 0, clear: false });
});

test("laws: swapping the groups negates the margin and mirrors its interval; a per-video dominant group never has an interval below zero", () => {
  const outcome = fc.array(fc.tuple(fc.integer({ min: -1, max: 12 }), fc.integer({ min: 0, max: 1 })), { minLength: 3, maxLength: 20 });
  fc.assert(
    fc.property(outcome, fc.array(fc.integer({ min: -1, max: 12 }), { minLength: 20, maxLength: 20 }), fc.integer({ min: 0, max: 1000 }), (a, other, seed) => {
      const n = a.length;
      const ranks = a.map(([r]) => r);
      const correct = a.map(([, k]) => k);
      const b = other.slice(0, n);
      const forward = compareEncoders([enc("p", false, ranks, correct), enc("q", true, b, correct)], { resamples: 100, seed });
      const swapped = compareEncoders([enc("p", true, ranks, correct), enc("q", false, b, correct)], { resamples: 100, seed });
      for (const m of forward.metrics) {
        const f = forward.margin[m]!;
        const s = swapped.margin[m]!;
        assert.ok(Math.abs(f.mean + s.mean) < 1e-12 && Math.abs(f.low + s.high) < 1e-12 && Math.abs(f.high + s.low) < 1e-12, m);
      }
      // dominant: rank 0 wherever the other has any hit, and the probe right wherever the other is
      const better = compareEncoders([enc("p", false, b.map((r) => (r >= 0 ? 0 : r)), correct.map(() => 1)), enc("q", true, b, correct)], { resamples: 100, seed });
      for (const m of better.metrics) assert.ok(better.margin[m]!.low >= 0, m);
    }),
    { numRuns: 60 },
  );
});

test("deterministic for a seed; bad inputs are typed errors", () => {
  const encoders = [enc("a", false, [0, 1, 2, -1, 0], [1, 1, 0, 0, 1]), enc("r", true, [2, 0, -1, -1, 1], [0, 1, 0, 1, 0])];
  assert.deepEqual(compareEncoders(encoders, { seed: 7, resamples: 300 }), compareEncoders(encoders, { seed: 7, resamples: 300 }));
  const configError = (e: unknown) => e instanceof ClipflowError && e.tag === "ConfigError";
  assert.throws(() => compareEncoders([encoders[0]!]), configError);
  assert.throws(() => compareEncoders([encoders[1]!]), configError);
  assert.throws(() => compareEncoders([encoders[0]!, enc("short", true, [0, 1])]), (e: unknown) => configError(e) && /short: scored on 2 test videos, the others on 5/.test((e as Error).message));
  // without a probe on every encoder the accuracy is left out, not half-computed
  assert.deepEqual(compareEncoders([encoders[0]!, enc("r", true, [0, 0, 0, 0, 0])], { resamples: 10 }).metrics, ["R@1", "R@5", "R@10"]);
});
