import { z } from "zod";
import { inlinePool, type CpuPool } from "../../src/core/cpuPool.ts";
import { defineStage, type Stage } from "../../src/core/stage.ts";
import type { PortName, PortTypes } from "../../src/core/types.ts";
import type { StageContext } from "../../src/core/stage.ts";
import type { Frames, Sample } from "../../src/core/types.ts";
import { rngFromString } from "../../src/core/rng.ts";

/** A stage context for tests (inline pool unless given). */
export function testContext(overrides: Partial<StageContext> = {}): StageContext {
  return {
    seed: 0,
    epoch: 0,
    cpu: overrides.cpu ?? inlinePool(),
    signal: overrides.signal ?? new AbortController().signal,
    log: () => {},
    ...overrides,
  };
}

/** A sample with uint8 views of the given THWC shape filled from a seeded rng. */
export function randomSample(key: string, shape: Frames["shape"] = [4, 8, 8, 3], views = ["rgb"]): Sample {
  const rng = rngFromString(key);
  const record: Record<string, Frames> = {};
  for (const name of views) {
    const data = new Uint8Array(shape[0] * shape[1] * shape[2] * shape[3]);
    for (let i = 0; i < data.length; i++) data[i] = rng.int(0, 255);
    record[name] = { data, shape, layout: "THWC", videoId: key, indices: Array.from({ length: shape[0] }, (_, i) => i) };
  }
  return { key, videoId: key, views: record, targets: { label: rng.int(0, 3) }, meta: {} };
}

export type { CpuPool };

/** A one-off source stage over a generator (tests that need a particular source). */
export function sourceOf<P extends PortName>(out: P, items: () => Iterable<PortTypes[P]>, size?: number): Stage<never, PortTypes[P]> {
  const factory = defineStage({
    name: "testSource",
    in: "none",
    out: out as PortName,
    config: z.object({}),
    create: () => ({ kind: "source", ...(size === undefined ? {} : { size }), items: items as () => Iterable<never> }),
  });
  return factory() as unknown as Stage<never, PortTypes[P]>;
}
