import assert from "node:assert/strict";
import { test } from "node:test";
import { createCpuPool, inlinePool, piscinaPool } from "../../src/core/cpuPool.ts";
import { ClipflowError } from "../../src/core/errors.ts";
import { transferablesOf } from "../../src/core/transfer.ts";

const clip = () => {
  const data = new Uint8Array(16 * 112 * 112 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
  return data;
};

test("a TypeScript kernel runs in worker threads and its result equals the inline one", async () => {
  const pool = piscinaPool({ threads: 2 });
  try {
    assert.equal(pool.kind, "piscina");
    assert.equal(pool.threads, 2);
    const input = { data: clip(), channels: 3, scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const expected = await inlinePool().run("normalize", { ...input, data: clip() });
    const actual = await pool.run("normalize", input);
    assert.deepEqual(actual, expected);
  } finally {
    await pool.close();
  }
});

test("buffers are transferred, not copied: the caller's input is detached, the result arrives whole", async () => {
  const pool = piscinaPool({ threads: 1 });
  try {
    const data = clip();
    const out = (await pool.run("identity", { data })) as { data: Uint8Array };
    assert.equal(data.byteLength, 0, "the input buffer moved to the worker");
    assert.equal(out.data.length, 16 * 112 * 112 * 3);
    assert.equal(out.data[1], 7);
    // a window on a larger buffer is copied instead (moving it would detach its neighbours)
    const big = new Uint8Array(100);
    const window = big.subarray(10, 20);
    await pool.run("identity", { data: window });
    assert.equal(big.byteLength, 100);
    assert.deepEqual(transferablesOf({ a: window, b: [new Float32Array(4)] }).length, 1);
  } finally {
    await pool.close();
  }
});

test("kernel errors come back typed, with the kernel's message, from both pools", async () => {
  const pool = piscinaPool({ threads: 1 });
  const bad = { data: new Uint8Array(4), channels: 3, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };
  try {
    for (const p of [inlinePool(), pool]) {
      await assert.rejects(
        p.run("normalize", { ...bad, data: new Uint8Array(4) }),
        (error: unknown) =>
          error instanceof ClipflowError &&
          error.tag === "KernelError" &&
          error.message === "kernel normalize failed: normalize: 4 values is not a multiple of 3 channels",
      );
    }
  } finally {
    await pool.close();
  }
});

test("abort: an aborted signal cancels a queued task; a closed pool refuses work; close is idempotent", async () => {
  const pool = piscinaPool({ threads: 1 });
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(pool.run("identity", { x: 1 }, { signal: controller.signal }), { name: "Cancelled" });
  await assert.rejects(inlinePool().run("identity", { x: 1 }, { signal: controller.signal }), { name: "AbortError" });
  await pool.close();
  await pool.close();
  await assert.rejects(pool.run("identity", { x: 1 }), /the pool is closed/);
});

test("shutdown under load: closing while 40 tasks are in flight settles every task and leaves no thread", async () => {
  const pool = piscinaPool({ threads: 2 });
  const tasks = Array.from({ length: 40 }, () => pool.run("normalize", { data: clip(), channels: 3, scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }));
  const closing = pool.close();
  const settled = await Promise.allSettled(tasks);
  await closing;
  assert.equal(settled.length, 40);
  for (const result of settled) {
    if (result.status === "rejected") assert.ok(result.reason instanceof ClipflowError);
  }
});

test("createCpuPool: 0 workers = inline, otherwise piscina sized as asked (default: the cores)", async () => {
  assert.equal(createCpuPool(0).kind, "inline");
  const pool = createCpuPool(undefined);
  assert.ok(pool.threads >= 1);
  await pool.close();
});
