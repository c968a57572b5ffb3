import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { listFolder } from "../../src/io/datasets.ts";
import { stackSamples } from "../../src/stages/batch.ts";
import { tca } from "../../src/stages/tca.ts";
import { temporalTriplet } from "../../src/stages/temporalTriplet.ts";
import { randomSample, testContext } from "../helpers/context.ts";
import { tinyActions } from "../helpers/videoFixtures.ts";

test("temporalTriplet: anchor and positive share the interval (separate buffers), the negative is another one", async () => {
  const videos = listFolder(await tinyActions()).videos.slice(0, 4);
  const samples = await lastValueFrom(of(...videos).pipe(temporalTriplet({ shortSide: 32 }).apply(testContext({ seed: 1 })), toArray()));
  assert.equal(samples.length, 4);
  for (const sample of samples) {
    const { anchor, positive, negative } = sample.views;
    assert.ok(anchor && positive && negative);
    assert.deepEqual(anchor.shape, [16, 32, 43, 3]); // 64×48 with short side 32: round(64 · 32/48) = 43
    assert.deepEqual(anchor.data, positive.data);
    assert.notEqual(anchor.data.buffer, positive.data.buffer);
    assert.deepEqual(anchor.indices, positive.indices);
    assert.deepEqual(anchor.indices, Array.from({ length: 16 }, (_, k) => ((sample.meta.anchorStart as number) + 4 * k) % 30));
    assert.notEqual(sample.meta.negativeStart, sample.meta.anchorStart);
  }
});

test("tca stage: one λ in [0, λmax) per batch, the view's temporal differences scaled by (1 − λ), other views untouched", async () => {
  const batch = stackSamples([0, 1, 2].map((i) => randomSample(`s${i}`, [4, 3, 3, 3], ["anchor", "positive"])));
  const [out] = await lastValueFrom(of(batch).pipe(tca({ maxLambda: 0.1 }).apply(testContext({ seed: 6 })), toArray()));
  assert.ok(out);
  const lambda = out.meta[0]?.tcaLambda as number;
  assert.ok(lambda >= 0 && lambda < 0.1);
  assert.ok(out.meta.every((meta) => meta.tcaLambda === lambda));
  assert.deepEqual(out.views.positive, batch.views.positive);
  const before = batch.views.anchor?.data as Uint8Array;
  const after = out.views.anchor?.data as Float32Array;
  const frame = 3 * 3 * 3;
  for (let clip = 0; clip < 3; clip++) {
    for (let t = 0; t < 3; t++) {
      for (let p = 0; p < frame; p++) {
        const at = (clip * 4 + t) * frame + p;
        const d0 = ((before[at + frame] as number) - (before[at] as number)) / 255;
        assert.ok(Math.abs((after[at + frame] as number) - (after[at] as number) - (1 - lambda) * d0) < 1e-6);
      }
    }
  }
  const [again] = await lastValueFrom(of(batch).pipe(tca({ maxLambda: 0.1 }).apply(testContext({ seed: 6 })), toArray()));
  assert.deepEqual(again, out);
});
