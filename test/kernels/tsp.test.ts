import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Segment } from "../../src/core/types.ts";
import { segmentClips } from "../../src/kernels/tsp.ts";

const segment = fc
  .tuple(fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0, max: 5, noNaN: true }), fc.boolean(), fc.integer({ min: 0, max: 9 }))
  .map(([start, length, action, label]): Segment => ({ start, end: start + length, label: action ? label : -1, region: action ? "Action" : "No action" }));

test("every segment long enough gives exactly clipsPerSegment clips inside it; shorter ones none (property)", () => {
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 8 }), fc.integer({ min: 1, max: 6 }), fc.integer(), (segments, per, seed) => {
      const clipSeconds = 16 / 15;
      const clips = segmentClips({ segments, clipSeconds, clipsPerSegment: per, mode: "random", seed });
      const long = segments.filter((s) => s.end - s.start >= clipSeconds).length;
      assert.equal(clips.length, long * per);
      for (const clip of clips) {
        const s = segments[clip.segment]!;
        assert.ok(clip.startSeconds >= s.start - 1e-9 && clip.startSeconds + clipSeconds <= s.end + 1e-9);
        assert.equal(clip.region, s.region === "Action" ? 1 : 0);
        assert.equal(clip.action, s.region === "Action" ? s.label : -1);
      }
    }),
  );
});

test("centre mode starts in the middle of the room; random mode depends only on the seed", () => {
  const segments: Segment[] = [{ start: 2, end: 6, label: 3, region: "Action" }];
  const centre = segmentClips({ segments, clipSeconds: 1, clipsPerSegment: 2, mode: "centre", seed: 1 });
  assert.deepEqual(centre.map((c) => c.startSeconds), [3.5, 3.5]);
  const a = segmentClips({ segments, clipSeconds: 1, clipsPerSegment: 5, mode: "random", seed: 7 });
  assert.deepEqual(segmentClips({ segments, clipSeconds: 1, clipsPerSegment: 5, mode: "random", seed: 7 }), a);
  assert.equal(new Set(a.map((c) => c.startSeconds)).size, 5);
});
