/**
 * TSP's segment-balanced sampling (Alwassel et al. 2021; METHODS.md §4): every annotated segment of an untrimmed video
 * (actions and the "No action" gaps around them) yields `clipsPerSegment` clips per epoch, so foreground and
 * background are balanced per segment; segments shorter than one clip are dropped. A clip starts at
 * t_start + r·(t_end − t_start − clipSeconds), r ~ U(0, 1) in training ("random") or r = ½ ("centre"). Targets: the
 * action label (−1 for background, ignored by the action head) and the region (1 = Action, 0 = No action).
 */
import { rngFromSeed } from "../core/rng.ts";
import type { Segment } from "../core/types.ts";

export interface SegmentClip {
  segment: number;
  startSeconds: number;
  action: number;
  region: 0 | 1;
}

export interface SegmentClipsInput {
  segments: Segment[];
  clipSeconds: number;
  clipsPerSegment: number;
  mode: "random" | "centre";
  seed: number;
}

/** A segment yields clips only if one clip fits in it. */
const holdsClip = (segment: Segment, clipSeconds: number): boolean => segment.end - segment.start >= clipSeconds;

/** How many clips segmentClips gives for these segments (known before any decode: it sizes TSP's epochs). */
export function segmentClipCount(segments: readonly Segment[], clipSeconds: number, clipsPerSegment: number): number {
  return segments.filter((segment) => holdsClip(segment, clipSeconds)).length * clipsPerSegment;
}

export function segmentClips(input: SegmentClipsInput): SegmentClip[] {
  const rng = rngFromSeed(input.seed);
  const clips: SegmentClip[] = [];
  input.segments.forEach((segment, index) => {
    if (!holdsClip(segment, input.clipSeconds)) return;
    const room = segment.end - segment.start - input.clipSeconds;
    for (let k = 0; k < input.clipsPerSegment; k += 1) {
      const r = input.mode === "random" ? rng.next() : 0.5;
      clips.push({
        segment: index,
        startSeconds: segment.start + r * room,
        action: segment.region === "Action" ? segment.label : -1,
        region: segment.region === "Action" ? 1 : 0,
      });
    }
  });
  return clips;
}
