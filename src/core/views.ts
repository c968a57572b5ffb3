/**
 * Per-view plumbing shared by augmentation stages: draw parameters per view (or once for all views), run a kernel on
 * each named view, and return the sample with those views replaced. Views are visited in the sample's order, so the
 * RNG draws are the same inline and in workers.
 */
import type { Frames, Sample } from "./types.ts";

export async function mapViews<P>(
  sample: Sample,
  names: readonly string[],
  options: { draw: (frames: Frames) => P; shared: boolean },
  apply: (frames: Frames, params: P, name: string) => Promise<{ data: Frames["data"]; shape: Frames["shape"] }>,
): Promise<Sample> {
  const present = names.filter((name) => sample.views[name] !== undefined);
  const first = sample.views[present[0] ?? ""];
  const shared = options.shared && first !== undefined ? options.draw(first) : undefined;
  const views: Record<string, Frames> = { ...sample.views };
  for (const name of present) {
    const frames = sample.views[name] as Frames;
    const out = await apply(frames, shared ?? options.draw(frames), name);
    views[name] = { ...frames, data: out.data, shape: out.shape };
  }
  return { ...sample, views };
}
