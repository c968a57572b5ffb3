import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ClipflowError } from "../../src/core/errors.ts";
import { normalizeRows, retrievalRecall, type FeatureSet } from "../../src/eval/retrieval.ts";

const set = (rows: number[][], labels: number[]): FeatureSet => ({ features: new Float32Array(rows.flat()), labels, dim: rows[0]?.length ?? 1 });

test("a hand-worked example: cosine ranks by angle, R@k counts a hit anywhere in the top k", () => {
  const gallery = set([[1, 0], [0, 1], [-1, 0], [0.9, 0.1]], [0, 1, 2, 1]);
  // query 0 (class 1) nearest: [1,0] class 0, then [0.9,0.1] class 1 → hit at rank 2
  // query 1 (class 2) nearest: [-1,0] class 2 → hit at rank 1
  // query 2 (class 3) never hits
  const queries = set([[1, 0.05], [-2, 0], [0, -1]], [1, 2, 3]);
  assert.deepEqual(retrievalRecall(gallery, queries, { ks: [1, 2, 4] }), { "R@1": 1 / 3, "R@2": 2 / 3, "R@4": 2 / 3 });
});

test("the coclr protocol centres each set on its own mean before normalising", () => {
  // every vector shares a large offset: raw cosine is dominated by it; centring removes it
  const gallery = set([[100, 1], [100, -1]], [0, 1]);
  const queries = set([[50, -1], [50, 1]], [1, 0]);
  assert.deepEqual(retrievalRecall(gallery, queries, { protocol: "coclr", ks: [1] }), { "R@1": 1 });
  const centred = normalizeRows(gallery, true);
  assert.deepEqual([...centred], [0, 1, 0, -1]);
});

test("R@k is monotone in k, reaches 1 once k covers the gallery (when the class exists), and matches a brute-force reference", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.float({ min: -1, max: 1, noNaN: true }), fc.float({ min: -1, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2 })), { minLength: 3, maxLength: 12 }),
      fc.array(fc.tuple(fc.float({ min: -1, max: 1, noNaN: true }), fc.float({ min: -1, max: 1, noNaN: true }), fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 6 }),
      (g, q) => {
        const gallery = set(g.map(([a, b]) => [a + 2, b]), g.map(([, , l]) => l));
        const queries = set(q.map(([a, b]) => [a + 2, b]), q.map(([, , l]) => l));
        const ks = [1, 2, 3, g.length];
        const result = retrievalRecall(gallery, queries, { ks });
        const values = ks.map((k) => result[`R@${k}`] as number);
        for (let i = 1; i < values.length; i++) assert.ok((values[i] as number) >= (values[i - 1] as number));
        // brute force: sort the gallery by cosine (stable), count hits
        const gn = normalizeRows(gallery, false);
        const qn = normalizeRows(queries, false);
        for (const k of ks) {
          let hits = 0;
          q.forEach((_, i) => {
            const ranked = g
              .map((__, j) => ({ j, s: (qn[i * 2] as number) * (gn[j * 2] as number) + (qn[i * 2 + 1] as number) * (gn[j * 2 + 1] as number) }))
              .sort((a, b) => b.s - a.s || a.j - b.j)
              .slice(0, k);
            if (ranked.some(({ j }) => gallery.labels[j] === queries.labels[i])) hits++;
          });
          assert.equal(result[`R@${k}`], hits / q.length);
        }
        const present = queries.labels.length > 0 && Array.from(queries.labels).every((l) => Array.from(gallery.labels).includes(l));
        if (present) assert.equal(result[`R@${g.length}`], 1);
      },
    ),
    { numRuns: 200, seed: 42 },
  );
});

test("mismatched shapes are typed errors", () => {
  assert.throws(() => retrievalRecall(set([[1, 2]], [0]), set([[1, 2, 3]], [0])), (error: unknown) => error instanceof ClipflowError && error.field === "dim");
  assert.throws(() => retrievalRecall({ features: new Float32Array(3), labels: [0, 1], dim: 2 }, set([[1, 2]], [0])), /train: 3 feature values for 2 videos × 2 dims/);
  assert.throws(() => retrievalRecall(set([[1, 2]], [0]), { features: new Float32Array(0), labels: [], dim: 2 }), /at least one/);
});
