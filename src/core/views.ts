/**
 * Per-view plumbing shared by augmentation stages: draw parameters per view, once for all views, or once per clip
 * ("clip": views whose names end in the same number share, e.g. CoCLR's rgb0 + flow0 and rgb1 + flow1), run a kernel on
 * each named view, and return the sample with those views replaced. Views are visited in the sample's order, so the
 * RNG draws are the same inline and in workers.
 */
import { z } from "zod";
import type { Frames, Sample } from "./types.ts";

export const ShareViewsSchema = z.union([z.boolean(), z.literal("clip")]);
export type ShareViews = z.infer<typeof ShareViewsSchema>;

/** The clip a view belongs to: its trailing number ("rgb1" → "1"; "" when it has none). */
export const clipOfView = (name: string): string => /\d+$/.exec(name)?.[0] ?? "";
/** A view is of a kind when its name, without the clip number, is listed ("flow1" is a "flow" view). */
export const viewIsOneOf = (name: string, kinds: readonly string[]): boolean => kinds.includes(name) || kinds.includes(name.replace(/\d+$/, ""));

/**
 * The views a stage works on: those whose names are listed (with or without a clip number), or, with no list, every
 * view that `byDefault` accepts (all of them unless given).
 */
export function selectViews(sample: Sample, kinds: readonly string[] | undefined, byDefault: (frames: Frames) => boolean = () => true): string[] {
  return Object.keys(sample.views).filter((name) => (kinds === undefined ? byDefault(sample.views[name] as Frames) : viewIsOneOf(name, kinds)));
}

export async function mapViews<P>(
  sample: Sample,
  names: readonly string[],
  options: { draw: (frames: Frames) => P; shared: ShareViews },
  apply: (frames: Frames, params: P, name: string) => Promise<{ data: Frames["data"]; shape: Frames["shape"] }>,
): Promise<Sample> {
  const present = names.filter((name) => sample.views[name] !== undefined);
  const drawn = new Map<string, P>();
  const views: Record<string, Frames> = { ...sample.views };
  for (const name of present) {
    const frames = sample.views[name] as Frames;
    const group = options.shared === true ? "*" : options.shared === "clip" ? clipOfView(name) : undefined;
    let params = group === undefined ? undefined : drawn.get(group);
    if (params === undefined) {
      params = options.draw(frames);
      if (group !== undefined) drawn.set(group, params);
    }
    const out = await apply(frames, params, name);
    views[name] = { ...frames, data: out.data, shape: out.shape };
  }
  return { ...sample, views };
}
