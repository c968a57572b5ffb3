/**
 * The declarative pipeline spec: a JSON document whose `stages` is a discriminated union (on `stage`) of every
 * registered stage's config. Parsing checks each field (errors name the path, e.g. `stages[2].size`), unknown stage
 * names, and that neighbouring stages' ports line up ("stages[2] (batch) takes sample but stages[1] (listSource)
 * emits video"). A spec compiles to stages, and stages export the same spec back.
 */
import { z } from "zod";
import { ClipflowError } from "./errors.ts";
import { checkStagePorts, pipelineOf, type Pipeline } from "./pipeline.ts";
import { formatPath, formatZodIssues, type AnyStageFactory, type StageSpecRecord } from "./stage.ts";

export interface PipelineSpec {
  $schema?: string | undefined;
  name?: string | undefined;
  seed: number;
  maxInFlight: number;
  stages: StageSpecRecord[];
  /** The model-step section of a pretraining spec (validated by the registry's `sections`; typed where it is used). */
  train?: unknown;
}

export interface StageRegistry {
  readonly factories: ReadonlyMap<string, AnyStageFactory>;
  readonly schema: z.ZodType<PipelineSpec>;
}

/**
 * A registry of stages; `sections` adds top-level spec sections beyond the stages (e.g. `train`, whose schema lives
 * with the model step so that core does not depend on it).
 */
export function createRegistry(factories: readonly AnyStageFactory[], sections: Record<string, z.ZodType> = {}): StageRegistry {
  const byName = new Map<string, AnyStageFactory>();
  for (const factory of factories) {
    const name = factory.definition.name;
    if (byName.has(name)) throw new Error(`stage "${name}" is registered twice`);
    byName.set(name, factory);
  }
  const schemas = factories.map((factory) => factory.specSchema);
  const stageSchema =
    schemas.length === 1
      ? (schemas[0] as z.ZodObject)
      : z.discriminatedUnion("stage", schemas as unknown as [z.ZodObject, z.ZodObject, ...z.ZodObject[]]);
  const schema = z.strictObject({
    $schema: z.string().optional(),
    name: z.string().optional(),
    seed: z.int().default(0),
    maxInFlight: z.int().min(1).default(32),
    stages: z.array(stageSchema).min(1),
    ...sections,
  }) as unknown as z.ZodType<PipelineSpec>;
  return { factories: byName, schema };
}

/** Validates a spec: shape, stage names, fields, ports. Throws a SpecError naming the path. */
export function parseSpec(registry: StageRegistry, raw: unknown): PipelineSpec {
  if (typeof raw === "object" && raw !== null && Array.isArray((raw as { stages?: unknown }).stages)) {
    const stages = (raw as { stages: unknown[] }).stages;
    stages.forEach((entry, index) => {
      const name = typeof entry === "object" && entry !== null ? (entry as { stage?: unknown }).stage : undefined;
      if (typeof name !== "string" || !registry.factories.has(name)) {
        const known = [...registry.factories.keys()].sort().join(", ");
        const shown = typeof name === "string" ? `unknown stage "${name}"` : "missing stage name";
        throw new ClipflowError("SpecError", `stages[${index}].stage: ${shown} (known: ${known})`, {
          field: `stages[${index}].stage`,
        });
      }
    });
  }
  const parsed = registry.schema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new ClipflowError("SpecError", formatZodIssues(parsed.error), {
      field: first ? formatPath(first.path) : undefined,
    });
  }
  checkPorts(registry, parsed.data.stages);
  return parsed.data;
}

function checkPorts(registry: StageRegistry, stages: StageSpecRecord[]): void {
  checkStagePorts(
    stages.map((record) => {
      const definition = (registry.factories.get(record.stage) as AnyStageFactory).definition;
      return { name: record.stage, in: definition.in, out: definition.out };
    }),
  );
}

/** Parses a spec and builds its stages. */
export function compileSpec(registry: StageRegistry, raw: unknown): { spec: PipelineSpec; pipeline: Pipeline<unknown, unknown> } {
  const spec = parseSpec(registry, raw);
  const stages = spec.stages.map((record, index) =>
    (registry.factories.get(record.stage) as AnyStageFactory).fromSpec(record, ["stages", index]),
  );
  return { spec, pipeline: pipelineOf(stages) };
}

/** The JSON Schema of pipeline specs (for editor completion: point a spec's `$schema` at it). */
export function specJsonSchema(registry: StageRegistry): Record<string, unknown> {
  return z.toJSONSchema(registry.schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
}
