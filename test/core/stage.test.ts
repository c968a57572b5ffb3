import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { expectTypeOf } from "expect-type";
import { z } from "zod";
import { chain, type Pipeline } from "../../src/core/pipeline.ts";
import { defineStage, type Stage } from "../../src/core/stage.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import type { Batch, Sample, VideoRef } from "../../src/core/types.ts";
import { batch, listSource, normalize, shuffle } from "../../src/stages/index.ts";
import { testContext } from "../helpers/context.ts";

const toSample = defineStage({
  name: "toSample",
  in: "video",
  out: "sample",
  config: z.object({ frames: z.int().min(1).default(2) }),
  create: (config) => ({
    kind: "map",
    map: (video: VideoRef): Sample => ({
      key: video.id,
      videoId: video.id,
      views: {
        rgb: {
          data: new Uint8Array(config.frames * 3),
          shape: [config.frames, 1, 1, 3],
          layout: "THWC",
          videoId: video.id,
          indices: [],
        },
      },
      targets: { label: video.label ?? 0 },
      meta: {},
    }),
  }),
});

test("config is parsed at construction; errors name the field path", () => {
  assert.throws(
    () => batch({ size: 0 }),
    (error: unknown) =>
      error instanceof ClipflowError &&
      error.tag === "ConfigError" &&
      error.field === "size" &&
      /^size: Too small: expected number to be >=1/.test(error.message),
  );
  assert.throws(() => batch({ size: 4, sise: 3 } as never), /Unrecognized key: "sise"/);
  assert.throws(() => shuffle({ buffer: 2 }, { concurrency: 0 }), /concurrency: Too small/);
  assert.throws(() => normalize({ std: [0.2, -1, 0.2] }), (error: unknown) => (error as ClipflowError).field === "std[1]");
});

test("defaults are applied and exported back in toSpec; run options ride along", () => {
  const stage = shuffle({}, { id: "mix", onError: { retry: 2 } });
  assert.deepEqual(stage.toSpec(), { stage: "shuffle", buffer: 16, id: "mix", onError: { retry: 2, then: "skip" } });
  assert.deepEqual(stage.run, { id: "mix", onError: { retry: 2, then: "skip" }, concurrency: 1, ordered: true, timeoutMs: undefined });
  assert.equal(stage.holds, 16);
  assert.equal(batch({ size: 8 }).holds, 8);
});

test("a config field may not shadow a reserved spec field", () => {
  assert.throws(
    () => defineStage({ name: "bad", in: "sample", out: "sample", config: z.object({ concurrency: z.number() }), create: () => ({ kind: "map", map: (s: Sample) => s }) }),
    /config field "concurrency" collides/,
  );
});

test("stage.apply runs the stage on plain values; chain composes stages and pipelines", async () => {
  const ctx = testContext();
  const videos: VideoRef[] = [1, 2, 3, 4, 5].map((i) => ({ id: `v${i}`, uri: `/v${i}.mp4`, label: i }));
  const batches = await lastValueFrom(of(...videos).pipe(chain(toSample(), batch({ size: 2, keepPartial: true })).apply(ctx), toArray()));
  assert.deepEqual(batches.map((b) => b.keys), [["v1", "v2"], ["v3", "v4"], ["v5"]]);
  assert.deepEqual([...(batches[0]?.targets.label?.data ?? [])], [1, 2]);
  const fromSource = await lastValueFrom(chain(listSource({ items: videos }), toSample()).apply(ctx)(of()).pipe(toArray()));
  assert.deepEqual(fromSource.map((s) => s.key), ["v1", "v2", "v3", "v4", "v5"]);
  const nested = chain(chain(listSource({ items: videos }), toSample()), batch({ size: 5 }));
  assert.deepEqual(nested.toSpec().map((record) => record.stage), ["listSource", "toSample", "batch"]);
});

test("types: chain checks neighbours at compile time", () => {
  const good = chain(listSource({ items: [] }), toSample(), normalize(), batch({ size: 2 }));
  expectTypeOf(good).toEqualTypeOf<Pipeline<never, Batch>>();
  expectTypeOf(toSample()).toEqualTypeOf<Stage<VideoRef, Sample>>();
  expectTypeOf(shuffle<Sample>()).toEqualTypeOf<Stage<Sample, Sample>>();
  // The same mistakes that fail to compile also fail at run time (for specs and JavaScript callers).
  assert.throws(
    // @ts-expect-error batch emits Batch, normalize takes Sample
    () => chain(toSample(), batch({ size: 2 }), normalize()),
    /stages\[2\] \(normalize\) takes sample but stages\[1\] \(batch\) emits batch/,
  );
  // @ts-expect-error a source takes nothing, so it cannot follow a stage
  assert.throws(() => chain(toSample(), listSource({ items: [] })), /only stages\[0\] can be a source/);
  // @ts-expect-error batch needs its size
  assert.throws(() => batch(), /size: Invalid input/);
  // @ts-expect-error size must be a number
  assert.throws(() => batch({ size: "2" }), /size: Invalid input: expected number, received string/);
  assert.equal(good.stages.length, 4);
});
