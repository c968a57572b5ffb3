import assert from "node:assert/strict";
import { test } from "node:test";
import { of, timer, map, Subject } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { parallelMap } from "../../src/core/parallelMap.ts";

const scheduler = () => new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));

// Task duration in frames by value: a=9, b=2, c=14 (a group "(AB)" spans 4 frames, so events are kept apart).
const durations: Record<string, number> = { a: 9, b: 2, c: 14 };
const delayed = (value: string) => timer(durations[value] ?? 1).pipe(map(() => [value.toUpperCase()]));

test("ordered: results leave in input order, each as soon as everything before it is done", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const source = cold("abc|");
    // a done at 9, b at 3 (waits for a), c at 16
    expectObservable(source.pipe(parallelMap(delayed, { concurrency: 3, ordered: true }))).toBe("9ms (AB) 3ms (C|)", {
      A: "A",
      B: "B",
      C: "C",
    });
  });
});

test("unordered: results leave as they complete", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const source = cold("abc|");
    expectObservable(source.pipe(parallelMap(delayed, { concurrency: 3, ordered: false }))).toBe("3ms B 5ms A 6ms (C|)", {
      A: "A",
      B: "B",
      C: "C",
    });
  });
});

test("concurrency 1 runs one task at a time", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const source = cold("abc|");
    // a: 0-9, b: 9-11, c: 11-25
    expectObservable(source.pipe(parallelMap(delayed, { concurrency: 1, ordered: true }))).toBe("9ms A - B 13ms (C|)", {
      A: "A",
      B: "B",
      C: "C",
    });
  });
});

test("synchronous projects emit in the same frame; an empty array drops, several fan out", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const source = cold("a-b-c---------|");
    const project = (value: string) => (value === "b" ? [] : value === "c" ? ["c1", "c2"] : [value]);
    expectObservable(source.pipe(parallelMap(project, { concurrency: 2, ordered: true }))).toBe("a---(xy)------|", {
      a: "a",
      x: "c1",
      y: "c2",
    });
  });
});

test("completion waits for running tasks", () => {
  scheduler().run(({ cold, expectObservable }) => {
    expectObservable(cold("a|").pipe(parallelMap(delayed, { concurrency: 2, ordered: true }))).toBe("9ms (A|)", { A: "A" });
  });
});

test("errors: a throwing project, a failing task, and a source error all propagate, and stop the rest", () => {
  scheduler().run(({ cold, expectObservable }) => {
    const throwing = (value: string) => {
      if (value === "b") throw new Error("bad b");
      return [value];
    };
    expectObservable(cold("ab-c|").pipe(parallelMap(throwing, { concurrency: 1, ordered: true }))).toBe(
      "a#",
      { a: "a" },
      new Error("bad b"),
    );
    const failingTask = (value: string) => (value === "a" ? cold<string[]>("--#", {}, new Error("task a")) : of([value]));
    expectObservable(cold("ab|").pipe(parallelMap(failingTask, { concurrency: 2, ordered: true }))).toBe(
      "--#",
      {},
      new Error("task a"),
    );
    expectObservable(cold("a#", {}, new Error("source")).pipe(parallelMap(delayed, { concurrency: 2, ordered: true }))).toBe(
      "-#",
      {},
      new Error("source"),
    );
  });
});

test("promises: order kept with out-of-order resolution; unsubscribe aborts running tasks", async () => {
  const resolvers: ((value: string[]) => void)[] = [];
  const signals: AbortSignal[] = [];
  const input = new Subject<number>();
  const seen: string[] = [];
  const subscription = input
    .pipe(
      parallelMap(
        (value: number, _index, signal) => {
          signals.push(signal);
          return new Promise<string[]>((resolve) => resolvers.push(resolve)).then((r) => r.map((s) => `${s}${value}`));
        },
        { concurrency: 2, ordered: true },
      ),
    )
    .subscribe((value) => seen.push(value));
  input.next(1);
  input.next(2);
  input.next(3); // waits for a slot
  assert.equal(resolvers.length, 2);
  resolvers[1]?.(["x"]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, []); // 2 finished first but 1 is still running
  resolvers[0]?.(["y"]);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(seen, ["y1", "x2"]);
  assert.equal(resolvers.length, 3);
  subscription.unsubscribe();
  assert.ok(signals[2]?.aborted);
});

test("rejects a concurrency below 1", () => {
  assert.throws(() => parallelMap(() => [], { concurrency: 0, ordered: true }), /concurrency must be >= 1/);
});
