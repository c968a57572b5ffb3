import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { shuffle } from "../../src/stages/shuffle.ts";
import { testContext } from "../helpers/context.ts";

const order = (seed: number, epoch: number, buffer: number, n = 40) =>
  lastValueFrom(of(...Array.from({ length: n }, (_, i) => i)).pipe(shuffle<number>({ buffer }).apply(testContext({ seed, epoch })), toArray()));

test("a permutation of the input; the same seed and epoch give the same order, another epoch another", async () => {
  const first = await order(1, 0, 8);
  assert.deepEqual([...first].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i));
  assert.notDeepEqual(first, Array.from({ length: 40 }, (_, i) => i));
  assert.deepEqual(await order(1, 0, 8), first);
  assert.notDeepEqual(await order(1, 1, 8), first);
  assert.notDeepEqual(await order(2, 0, 8), first);
});

test("bounded: no item moves earlier than `buffer` places before its position", async () => {
  const out = await order(3, 0, 5, 200);
  out.forEach((value, position) => assert.ok(position >= value - 5, `item ${value} at ${position}`));
});

test("buffer 1 with nothing to swap keeps short inputs whole", async () => {
  assert.deepEqual([...(await order(0, 0, 1, 2))].sort(), [0, 1]);
  assert.deepEqual(await order(0, 0, 4, 0), []);
});
