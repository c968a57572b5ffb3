import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { createCpuPool } from "../../src/core/cpuPool.ts";
import type { PortName } from "../../src/core/types.ts";
import { builtinStages } from "../../src/stages/index.ts";
import { testContext } from "../helpers/context.ts";
import { portFixtures } from "../helpers/portFixtures.ts";
import { tempDir } from "../helpers/tempDir.ts";

/** Every typed array inside a value, flattened to bytes, with the path it sits at (for a readable diff). */
function fingerprint(value: unknown, path = "$", out: string[] = []): string[] {
  if (ArrayBuffer.isView(value)) {
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    let hash = 2166136261;
    for (const byte of bytes) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
    out.push(`${path}: ${value.constructor.name}(${(value as unknown as { length: number }).length}) #${hash.toString(16)}`);
  } else if (Array.isArray(value)) value.forEach((item, i) => fingerprint(item, `${path}[${i}]`, out));
  else if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value).sort()) fingerprint((value as Record<string, unknown>)[key], `${path}.${key}`, out);
  } else out.push(`${path}: ${JSON.stringify(value)}`);
  return out;
}

const cpuStages = builtinStages.filter((factory) => factory.definition.usesCpu === true);

test("every worker stage is in the matrix", () => {
  assert.ok(cpuStages.length >= 1);
  for (const factory of cpuStages) {
    const port = factory.definition.in;
    assert.ok(port !== "none" && port !== "any" && portFixtures[port as PortName], `no input fixture for ${factory.definition.name} (${port})`);
  }
});

for (const factory of cpuStages) {
  const { name } = factory.definition;
  test(`${name}: inline, 1 worker and 2 workers give bit-identical output`, async () => {
    const fixture = portFixtures[factory.definition.in as PortName];
    assert.ok(fixture);
    const results: string[][] = [];
    const example: Record<string, unknown> = { ...(factory.definition.example ?? {}) };
    if (typeof example.root === "string") example.root = tempDir("clipflow-matrix-"); // a cache folder (flowCache), one for all three runs
    for (const workers of [0, 1, 2]) {
      const cpu = createCpuPool(workers);
      try {
        // fresh inputs per run: workers take ownership of transferred buffers
        const inputs = (await fixture.prepare()) as unknown[];
        const stage = factory.fromSpec({ stage: name, ...example, concurrency: 3 });
        const outputs = await lastValueFrom(of(...inputs).pipe(stage.apply(testContext({ cpu, seed: 3 })), toArray()));
        results.push(fingerprint(outputs));
      } finally {
        await cpu.close();
      }
    }
    assert.ok((results[0] ?? []).length > 0);
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
  });
}
