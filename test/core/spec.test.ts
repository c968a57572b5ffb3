import assert from "node:assert/strict";
import { test } from "node:test";
import { ClipflowError } from "../../src/core/errors.ts";
import { compilePipelineSpec, parsePipelineSpec, pipelineJsonSchema } from "../../src/stages/index.ts";

const items = [{ id: "a", uri: "/a.mp4", label: 0 }];

function specError(raw: unknown): ClipflowError {
  try {
    parsePipelineSpec(raw);
  } catch (error) {
    assert.ok(error instanceof ClipflowError);
    assert.equal(error.tag, "SpecError");
    return error;
  }
  assert.fail("expected a SpecError");
}

test("wrong stage order names both stages and their ports", () => {
  const error = specError({ stages: [{ stage: "listSource", items }, { stage: "batch", size: 2 }] });
  assert.equal(error.message, "stages[1] (batch) takes sample but stages[0] (listSource) emits video");
  assert.equal(error.field, "stages[1]");
  const late = specError({ stages: [{ stage: "normalize" }, { stage: "listSource", items }] });
  assert.equal(late.message, "stages[1] (listSource) is a source: only stages[0] can be a source");
  // a pass-through stage keeps its predecessor's port
  const through = specError({ stages: [{ stage: "normalize" }, { stage: "batch", size: 2 }, { stage: "shuffle" }, { stage: "normalize" }] });
  assert.equal(through.message, "stages[3] (normalize) takes sample but stages[2] (shuffle) emits batch");
});

test("unknown or missing stage names list the known ones", () => {
  const error = specError({ stages: [{ stage: "listSource", items }, { stage: "decod" }] });
  assert.equal(error.message, 'stages[1].stage: unknown stage "decod" (known: batch, blur, colourJitter, decode, dilatedSample, flowCache, flowPair, gvf, listSource, normalize, rotate, segmentSample, shards, shuffle, spatialAugment, tca, temporalTriplet, videos)');
  assert.equal(error.field, "stages[1].stage");
  assert.match(specError({ stages: [{ size: 3 }] }).message, /^stages\[0\]\.stage: missing stage name/);
});

test("bad fields name their path", () => {
  assert.equal(
    specError({ stages: [{ stage: "normalize" }, { stage: "batch", size: "8" }] }).message,
    "stages[1].size: Invalid input: expected number, received string",
  );
  assert.equal(specError({ stages: [{ stage: "shuffle", buffr: 3 }] }).message, 'stages[0]: Unrecognized key: "buffr"');
  assert.equal(specError({ stages: [] }).message, "stages: Too small: expected array to have >=1 items");
  assert.equal(specError({ seed: 1.5, stages: [{ stage: "shuffle" }] }).field, "seed");
  assert.equal(specError({ stages: [{ stage: "batch", size: 2, onError: "ignore" }] }).field, "stages[0].onError");
});

test("spec → stages → spec round-trips, defaults made explicit", () => {
  const raw = {
    name: "demo",
    stages: [
      { stage: "listSource", items },
      { stage: "shuffle", buffer: 4, id: "mix" },
      { stage: "normalize", concurrency: 2, onError: "skip" },
      { stage: "batch", size: 2 },
    ],
  };
  // listSource emits video and normalize takes sample: this spec must fail; drop normalize to make it valid
  assert.throws(() => compilePipelineSpec(raw), /stages\[2\] \(normalize\) takes sample/);
  const valid = { ...raw, stages: [raw.stages[0], raw.stages[1]] };
  const { spec, pipeline } = compilePipelineSpec(valid);
  assert.deepEqual(spec, {
    name: "demo",
    seed: 0,
    maxInFlight: 32,
    stages: [
      { stage: "listSource", items, repeat: 1 },
      { stage: "shuffle", buffer: 4, id: "mix" },
    ],
  });
  assert.deepEqual(pipeline.toSpec(), spec.stages);
  const again = compilePipelineSpec({ ...spec, stages: pipeline.toSpec() });
  assert.deepEqual(again.spec, spec);
  const withRun = compilePipelineSpec({ stages: [{ stage: "normalize", concurrency: 2, onError: { retry: 3 } }, { stage: "batch", size: 2 }] });
  assert.deepEqual(withRun.pipeline.toSpec()[0], {
    stage: "normalize",
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    concurrency: 2,
    onError: { retry: 3, then: "skip" },
  });
});

test("the JSON Schema lists every stage as a variant with its fields", () => {
  const schema = pipelineJsonSchema() as { properties: { stages: { items: { oneOf?: unknown[]; anyOf?: unknown[] } } } };
  const variants = (schema.properties.stages.items.oneOf ?? schema.properties.stages.items.anyOf) as {
    properties: Record<string, { const?: string }>;
  }[];
  const names = variants.map((variant) => variant.properties.stage?.const).sort();
  assert.deepEqual(names, ["batch", "blur", "colourJitter", "decode", "dilatedSample", "flowCache", "flowPair", "gvf", "listSource", "normalize", "rotate", "segmentSample", "shards", "shuffle", "spatialAugment", "tca", "temporalTriplet", "videos"]);
  const batchVariant = variants.find((variant) => variant.properties.stage?.const === "batch");
  assert.ok(batchVariant && "size" in batchVariant.properties && "onError" in batchVariant.properties);
});
