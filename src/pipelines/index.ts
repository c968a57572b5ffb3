/**
 * Built-in pipelines (default specs from METHODS.md) and the one way the CLI turns `--pipeline NAME|SPEC.json` plus
 * flags into a validated spec: flags override the spec's fields, then the whole spec is parsed (errors name the
 * field path, e.g. `train.optimizer.lr`).
 */
import { ClipflowError } from "../core/errors.ts";
import type { PipelineSpec } from "../core/spec.ts";
import { numberFlag, optionalIntFlag, stringFlag, type Parsed } from "../cli/args.ts";
import { parsePipelineSpec } from "../stages/index.ts";
import { prpSpec, type PipelineOverrides } from "./prp.ts";
import { coclrSpec, type CoclrOverrides } from "./coclr.ts";
import { tspSpec } from "./tsp.ts";
import { vtdlSpec } from "./vtdl.ts";
import { openDataset } from "../io/datasets.ts";

type BuiltinOverrides = PipelineOverrides & { gvf?: string | undefined } & Omit<CoclrOverrides, keyof PipelineOverrides>;

export const builtinPipelines: Record<string, (overrides: BuiltinOverrides) => Record<string, unknown>> = {
  prp: prpSpec,
  vtdl: vtdlSpec,
  coclr: coclrSpec,
  // TSP's action head needs the number of classes: taken from the annotations.
  tsp: (o) => tspSpec({ ...o, classes: Math.max(1, openDataset(o.data).classes.length) }),
};

/** Applies CLI overrides to a raw spec object (a parsed JSON file). */
function applyOverrides(
  raw: Record<string, unknown>,
  o: Omit<PipelineOverrides, "data"> & { data?: string | undefined; microBatch?: number | undefined; replicas?: number | undefined; gvf?: string | undefined },
): Record<string, unknown> {
  const spec = structuredClone(raw) as { seed?: number; stages?: Array<Record<string, unknown>>; train?: Record<string, unknown> };
  if (o.seed !== undefined) spec.seed = o.seed;
  for (const stage of spec.stages ?? []) {
    if (o.data !== undefined && (stage.stage === "videos" || stage.stage === "shards")) stage.data = o.data;
    if (o.batch !== undefined && stage.stage === "batch") stage.size = o.batch;
    if (o.gvf !== undefined && stage.stage === "gvf") stage.data = o.gvf;
  }
  if (o.gvf !== undefined && !(spec.stages ?? []).some((stage) => stage.stage === "gvf")) {
    throw new ClipflowError("ConfigError", "--gvf replaces the file of the spec's gvf stage, and this spec has none (a TAC spec?)", { field: "--gvf" });
  }
  if (spec.train !== undefined) {
    const train = spec.train as { epochs?: number; steps?: number; microBatch?: number; replicas?: number; optimizer?: Record<string, unknown>; task?: { backbone?: Record<string, unknown> } };
    if (o.epochs !== undefined) train.epochs = o.epochs;
    if (o.steps !== undefined) train.steps = o.steps;
    if (o.microBatch !== undefined) train.microBatch = o.microBatch;
    if (o.replicas !== undefined) train.replicas = o.replicas;
    if (o.lr !== undefined) train.optimizer = { ...(train.optimizer ?? {}), lr: o.lr };
    if (train.task !== undefined && (o.backbone !== undefined || o.width !== undefined)) {
      train.task.backbone = { ...(train.task.backbone ?? {}), ...(o.backbone === undefined ? {} : { name: o.backbone }), ...(o.width === undefined ? {} : { width: o.width }) };
    }
  }
  return spec as Record<string, unknown>;
}

/** The run-shape flags every training command takes (see `trainingFlags`), read and range-checked. */
export function trainingOverrides(values: Parsed["values"]) {
  return {
    batch: optionalIntFlag(values, "batch", 1),
    backbone: stringFlag(values, "backbone"),
    width: numberFlag(values, "width"),
    size: optionalIntFlag(values, "size", 16),
    frames: optionalIntFlag(values, "frames", 1),
    lr: numberFlag(values, "lr"),
    seed: optionalIntFlag(values, "seed", 0),
  };
}

export function specFromArgs(values: Parsed["values"], readText: (path: string) => string): PipelineSpec {
  const pipeline = stringFlag(values, "pipeline");
  if (pipeline === undefined) throw new ClipflowError("ConfigError", `--pipeline is required (${Object.keys(builtinPipelines).join(", ")} or a SPEC.json)`, { field: "--pipeline" });
  const optionalInt = (name: string, min: number) => optionalIntFlag(values, name, min);
  const overrides = {
    data: stringFlag(values, "data"),
    epochs: optionalInt("epochs", 1),
    steps: optionalInt("steps", 1),
    ...trainingOverrides(values),
    microBatch: optionalInt("micro-batch", 1),
    replicas: optionalInt("replicas", 1),
  };
  let raw: Record<string, unknown>;
  const builtin = builtinPipelines[pipeline];
  if (builtin !== undefined) {
    if (overrides.data === undefined) throw new ClipflowError("ConfigError", "--data is required with a built-in pipeline", { field: "--data" });
    if (pipeline === "prp" && overrides.frames !== undefined && overrides.frames !== 16) throw new ClipflowError("ConfigError", `--frames: ${pipeline} uses 16-frame clips, got ${overrides.frames}`, { field: "--frames" });
    const cycle = stringFlag(values, "cycle");
    if (cycle !== undefined && cycle !== "rgb" && cycle !== "flow") throw new ClipflowError("ConfigError", `--cycle: rgb or flow, got "${cycle}"`, { field: "--cycle" });
    if (cycle === undefined && (values.init !== undefined || values.sampler !== undefined)) {
      throw new ClipflowError("ConfigError", "--init and --sampler belong to a CoCLR cycle: add --cycle rgb|flow", { field: values.sampler !== undefined ? "--sampler" : "--init" });
    }
    raw = builtin({ ...overrides, data: overrides.data, gvf: stringFlag(values, "gvf"), flow: stringFlag(values, "flow"), cycle, init: stringFlag(values, "init"), sampler: stringFlag(values, "sampler"), flowColourQuirk: values["flow-colour-quirk"] === true });
  } else if (pipeline.endsWith(".json")) {
    let text: string;
    try {
      text = readText(pipeline);
    } catch (error) {
      throw new ClipflowError("MissingFile", `cannot read the spec ${pipeline}`, { uri: pipeline, field: "--pipeline", cause: error });
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (error) {
      throw new ClipflowError("SpecError", `${pipeline} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, { uri: pipeline, field: "--pipeline" });
    }
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new ClipflowError("SpecError", `${pipeline} must hold a JSON object`, { uri: pipeline });
  } else {
    throw new ClipflowError("ConfigError", `--pipeline: unknown pipeline "${pipeline}" (built in: ${Object.keys(builtinPipelines).join(", ")}; or a path ending in .json)`, { field: "--pipeline" });
  }
  const spec = parsePipelineSpec(applyOverrides(raw, builtin === undefined ? { ...overrides, gvf: stringFlag(values, "gvf") } : overrides));
  if (spec.train === undefined) throw new ClipflowError("SpecError", "a pretraining spec needs a `train` section", { field: "train" });
  return spec;
}
