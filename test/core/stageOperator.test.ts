import assert from "node:assert/strict";
import { test } from "node:test";
import { map, timer } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { z } from "zod";
import { DeadLetterSink } from "../../src/core/deadLetter.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { defineStage, type RunOptions } from "../../src/core/stage.ts";
import { testContext } from "../helpers/context.ts";

interface Item {
  key: string;
  ms: number;
}

// A map stage whose task for item k takes k.ms frames (virtual time) and fails when ms < 0.
const slow = defineStage({
  name: "slow",
  in: "any",
  out: "same",
  config: z.object({}),
  create: () => ({
    kind: "map",
    map: (item: unknown) => {
      const { key, ms } = item as Item;
      if (ms < 0) throw new Error(`cannot do ${key}`);
      return timer(ms).pipe(map(() => key.toUpperCase()));
    },
  }),
});

// Errors compare by their one-line description (tag, stage, key, message), not by stack or cause.
const comparable = (frames: unknown) =>
  JSON.parse(
    JSON.stringify(frames, (_key, value: unknown) => (value instanceof ClipflowError ? value.describe() : value instanceof Error ? value.message : value)),
  ) as unknown;
const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(comparable(actual), comparable(expected)));
const items: Record<string, Item> = { a: { key: "a", ms: 9 }, b: { key: "b", ms: 2 }, c: { key: "c", ms: 14 }, x: { key: "x", ms: -1 } };

function run(marbles: string, options: RunOptions, deadLetters = new DeadLetterSink()) {
  return (helpers: TestScheduler extends { run(cb: (h: infer H) => unknown): unknown } ? H : never) =>
    helpers.cold(marbles, items).pipe(slow<Item>({}, options).apply({ ...testContext(), deadLetters }));
}

test("marbles: a stage keeps input order by default, with its concurrency", () => {
  scheduler().run((helpers) => {
    helpers.expectObservable(run("abc|", { concurrency: 3 })(helpers)).toBe("9ms (AB) 3ms (C|)", { A: "A", B: "B", C: "C" });
  });
});

test("marbles: unordered emits as tasks complete", () => {
  scheduler().run((helpers) => {
    helpers.expectObservable(run("abc|", { concurrency: 3, ordered: false })(helpers)).toBe("3ms B 5ms A 6ms (C|)", {
      A: "A",
      B: "B",
      C: "C",
    });
  });
});

test("marbles: fail policy errors the stream with a typed error naming stage and key", () => {
  scheduler().run((helpers) => {
    helpers
      .expectObservable(run("axb|", { concurrency: 1 })(helpers))
      .toBe("9ms (A#)", { A: "A" }, new ClipflowError("StageError", "cannot do x", { stage: "slow", key: "x" }));
  });
});

test("marbles: skip policy drops the failing item, dead-letters it, and completes normally", () => {
  const deadLetters = new DeadLetterSink();
  scheduler().run((helpers) => {
    helpers.expectObservable(run("xb|", { onError: "skip" }, deadLetters)(helpers)).toBe("3ms (B|)", { B: "B" });
  });
  assert.equal(deadLetters.total, 1);
  assert.deepEqual(
    (({ time: _time, ...rest }) => rest)(deadLetters.records[0] as unknown as Record<string, unknown> & { time: string }),
    { key: "x", uri: undefined, stage: "slow", error: "StageError", message: "cannot do x", attempts: 1 },
  );
});

test("marbles: an upstream error passes through untouched", () => {
  scheduler().run((helpers) => {
    const source = helpers.cold("a#", items, new Error("upstream"));
    helpers.expectObservable(source.pipe(slow<Item>({}, { concurrency: 2 }).apply(testContext()))).toBe("-#", {}, new Error("upstream"));
  });
});
