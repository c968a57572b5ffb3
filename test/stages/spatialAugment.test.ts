import assert from "node:assert/strict";
import { test } from "node:test";
import { lastValueFrom, of, toArray } from "rxjs";
import { spatialAugment } from "../../src/stages/spatialAugment.ts";
import { randomSample, testContext } from "../helpers/context.ts";

test("shared parameters: RGB and flow views get the same crop and flip (u negated on the flow view only)", async () => {
  const samples = Array.from({ length: 20 }, (_, i) => {
    const sample = randomSample(`k${i}`, [2, 12, 16, 3], ["rgb", "flow"]);
    sample.views.flow = { ...(sample.views.rgb as NonNullable<typeof sample.views.rgb>), data: (sample.views.rgb?.data as Uint8Array).slice() };
    return sample;
  });
  const out = await lastValueFrom(of(...samples).pipe(spatialAugment({ size: [8, 6], crop: "random" }).apply(testContext({ seed: 3 })), toArray()));
  let flips = 0;
  for (const sample of out) {
    const rgb = sample.views.rgb?.data as Uint8Array;
    const flow = sample.views.flow?.data as Uint8Array;
    assert.deepEqual(sample.views.rgb?.shape, [2, 6, 8, 3]);
    let negated = true;
    for (let i = 0; i < rgb.length; i++) {
      if (i % 3 === 0) negated &&= flow[i] === 255 - (rgb[i] as number) || flow[i] === rgb[i];
      else assert.equal(flow[i], rgb[i]);
    }
    assert.ok(negated);
    if (flow[0] !== rgb[0]) flips++;
  }
  assert.ok(flips > 3 && flips < 17, `flipped ${flips} of 20`);
});

test("independent parameters per view when not shared; centre crop is deterministic", async () => {
  const sample = randomSample("a", [1, 20, 20, 3], ["anchor", "positive"]);
  sample.views.positive = { ...(sample.views.anchor as NonNullable<typeof sample.views.anchor>), data: (sample.views.anchor?.data as Uint8Array).slice() };
  const [own] = await lastValueFrom(of(sample).pipe(spatialAugment({ size: [10, 10], crop: "random", flip: 0, shareAcrossViews: false }).apply(testContext({ seed: 1 })), toArray()));
  assert.notDeepEqual(own?.views.anchor?.data, own?.views.positive?.data);
  const [centre] = await lastValueFrom(of(sample).pipe(spatialAugment({ size: [10, 10], crop: "centre", flip: 0 }).apply(testContext()), toArray()));
  assert.deepEqual(centre?.views.anchor?.data, centre?.views.positive?.data);
});
