/**
 * The stage contract (DESIGN.md §3). A stage is defined once with `defineStage`: a name (file name == export == spec
 * discriminant), the ports it takes and emits, a zod config schema (the only source of its config type, parsed at
 * construction with errors naming the field path) and a `create(config)` that returns its implementation in one of a
 * few shapes the runner understands (source, map, flatMap, group, reorder). The runner never branches on a stage's
 * name: concurrency, ordering, error policy and how many items a stage holds are declared here.
 */
import { z } from "zod";
import type { Observable, OperatorFunction } from "rxjs";
import type { CpuPool } from "./cpuPool.ts";
import { ClipflowError } from "./errors.ts";
import type { Rng } from "./rng.ts";
import type { PortName, PortTypes } from "./types.ts";
import { applyStages, type ApplyContext } from "./pipeline.ts";
import { valueCarrier } from "./stageOperator.ts";

/** What a stage does with a sample that fails: stop the run, dead-letter it and go on, or retry first. */
export const OnErrorSchema = z.union([
  z.enum(["fail", "skip"]),
  z.strictObject({
    retry: z.int().min(1).max(100),
    then: z.enum(["fail", "skip"]).default("skip"),
  }),
]);
export type OnError = z.output<typeof OnErrorSchema>;

/** Options every stage accepts besides its own config (in code: the second factory argument; in a spec: inline). */
export const RunOptionsSchema = z.strictObject({
  /** Names the stage in metrics, dead letters and RNG streams (default: the stage name, #n when repeated). */
  id: z.string().min(1).optional(),
  onError: OnErrorSchema.optional(),
  /** Samples processed at once by this stage. */
  concurrency: z.int().min(1).max(1024).optional(),
  /** Emit in input order (default) or as results complete. */
  ordered: z.boolean().optional(),
  /** Per-sample watchdog: a task running longer fails with a Timeout error (then the error policy applies). */
  timeoutMs: z.number().positive().optional(),
});
export type RunOptions = z.input<typeof RunOptionsSchema>;
export interface ResolvedRunOptions {
  id: string | undefined;
  onError: OnError;
  concurrency: number;
  ordered: boolean;
  timeoutMs: number | undefined;
}

/** Run-wide context a stage sees when the pipeline starts. */
export interface StageContext {
  seed: number;
  epoch: number;
  cpu: CpuPool;
  signal: AbortSignal;
  /** Writes a human-readable line (stderr in the CLI). */
  log: (line: string) => void;
}

/** Per-sample context: the stage's RNG stream for this sample, the CPU pool, and the abort signal. */
export interface SampleContext extends StageContext {
  /** The stage id (as in metrics and dead letters). */
  stage: string;
  key: string;
  /** rngFor(seed, epoch, stage, key): identical whatever the worker count or scheduling. */
  rng: Rng;
  /** 0 for the first try, n for the n-th retry. */
  attempt: number;
}

export type MaybeAsync<T> = T | Promise<T> | Observable<T>;

export type StageImpl<I, O> =
  /** `size`: items per pass, when known; `listed`: the items themselves, when they are a plain list (sizes epochs). */
  | { kind: "source"; items(ctx: StageContext & { stage: string }): AsyncIterable<O> | Iterable<O>; size?: number; listed?: readonly O[] }
  | { kind: "map"; map(input: I, ctx: SampleContext): MaybeAsync<O> }
  /** `expected`: how many outputs an input gives, known without running it (sizes epochs: TSP's clips per video). */
  | { kind: "flatMap"; flatMap(input: I, ctx: SampleContext): MaybeAsync<Iterable<O>>; expected?(input: I): number }
  | { kind: "group"; size: number; keepPartial: boolean; group(inputs: I[], ctx: SampleContext): O }
  | { kind: "reorder"; holds: number; reorder<T>(ctx: StageContext & { stage: string }): OperatorFunction<T, T> };

/** "none" = a source; "any" with out "same" = a stage that passes whatever it gets (shuffle, take ...). */
export type InPort = PortName | "none" | "any";
export type OutPort = PortName | "same";
type InType<P extends InPort> = P extends PortName ? PortTypes[P] : P extends "none" ? never : unknown;
type OutType<P extends OutPort> = P extends PortName ? PortTypes[P] : unknown;

/** The record a stage contributes to a pipeline spec: `{ stage: name, ...config, ...runOptions }`. */
export type StageSpecRecord = { stage: string } & Record<string, unknown>;

/** A configured stage. I and O are the value types it takes and emits (phantom markers keep them invariant). */
export interface Stage<I, O> {
  readonly name: string;
  readonly in: InPort;
  readonly out: OutPort;
  readonly config: Readonly<Record<string, unknown>>;
  readonly run: ResolvedRunOptions;
  /** True when the stage sends work to ctx.cpu (covered by the inline-vs-worker matrix test). */
  readonly usesCpu: boolean;
  readonly impl: StageImpl<I, O>;
  /** Items this stage may hold at once (group size, shuffle buffer): the runner checks them against maxInFlight. */
  readonly holds: number;
  toSpec(): StageSpecRecord;
  /** This stage alone as an operator on plain values (code composition, marble tests). */
  apply(ctx: ApplyContext): OperatorFunction<I, O>;
  readonly __in?: (input: I) => void;
  readonly __out?: () => O;
}

export interface StageDefinition<
  N extends string,
  S extends z.ZodObject,
  IP extends InPort,
  OP extends OutPort,
> {
  name: N;
  in: IP;
  out: OP;
  config: S;
  /** Defaults for the run options (e.g. decode: concurrency = pool threads, onError skip). */
  defaults?: Partial<Omit<ResolvedRunOptions, "id">>;
  usesCpu?: boolean;
  /** A small valid config, used by docs and by the inline-vs-worker matrix test. */
  example?: z.input<S>;
  create(config: z.output<S>): StageImpl<InType<IP>, OutType<OP>>;
}

type FactoryConfigArg<S extends z.ZodObject> = {} extends z.input<S> ? [config?: z.input<S>] : [config: z.input<S>];

/** A stage factory: call it with a config (and run options) to get a configured stage. */
export type StageFactory<N extends string, S extends z.ZodObject, IP extends InPort, OP extends OutPort> = (IP extends "any"
  ? <T>(...args: [...FactoryConfigArg<S>, run?: RunOptions]) => Stage<T, T>
  : (...args: [...FactoryConfigArg<S>, run?: RunOptions]) => Stage<InType<IP>, OutType<OP>>) & {
  readonly definition: StageDefinition<N, S, IP, OP>;
  /** The zod schema of this stage's spec record (discriminant + config + run options). */
  readonly specSchema: z.ZodObject;
  /** Builds the stage from a spec record (validated). */
  fromSpec(record: Record<string, unknown>, path?: (string | number)[]): Stage<unknown, unknown>;
};

export type AnyStageFactory = StageFactory<string, z.ZodObject, InPort, OutPort>;

/** Formats a zod error as `path.to.field: message` lines, prefixed by where the config came from. */
export function formatZodIssues(error: z.ZodError, prefix: (string | number)[] = []): string {
  return error.issues
    .map((issue) => `${formatPath([...prefix, ...(issue.path as (string | number)[])])}: ${issue.message}`)
    .join("; ");
}

export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out === "" ? "(root)" : out;
}

const runOptionKeys = Object.keys(RunOptionsSchema.shape);

/** Defines a stage. See the module comment; each stage file calls this once and exports the factory. */
export function defineStage<N extends string, S extends z.ZodObject, IP extends InPort, OP extends OutPort>(
  definition: StageDefinition<N, S, IP, OP>,
): StageFactory<N, S, IP, OP> {
  for (const key of Object.keys(definition.config.shape)) {
    if (key === "stage" || runOptionKeys.includes(key)) {
      throw new Error(`stage ${definition.name}: config field "${key}" collides with a reserved spec field`);
    }
  }
  const specSchema = definition.config
    .extend({ stage: z.literal(definition.name) })
    .extend(RunOptionsSchema.shape)
    .strict();

  const build = (rawConfig: unknown, rawRun: unknown, path: (string | number)[]): Stage<unknown, unknown> => {
    const parsedConfig = definition.config.strict().safeParse(rawConfig ?? {});
    if (!parsedConfig.success) {
      const first = parsedConfig.error.issues[0];
      throw new ClipflowError("ConfigError", formatZodIssues(parsedConfig.error, path), {
        stage: definition.name,
        field: first ? formatPath([...path, ...(first.path as (string | number)[])]) : undefined,
      });
    }
    const parsedRun = RunOptionsSchema.safeParse(rawRun ?? {});
    if (!parsedRun.success) {
      throw new ClipflowError("ConfigError", formatZodIssues(parsedRun.error, path), { stage: definition.name });
    }
    const config = parsedConfig.data as z.output<S>;
    const runOptions = parsedRun.data;
    const resolved: ResolvedRunOptions = {
      id: runOptions.id,
      onError: runOptions.onError ?? definition.defaults?.onError ?? "fail",
      concurrency: runOptions.concurrency ?? definition.defaults?.concurrency ?? 1,
      ordered: runOptions.ordered ?? definition.defaults?.ordered ?? true,
      timeoutMs: runOptions.timeoutMs ?? definition.defaults?.timeoutMs,
    };
    const impl = definition.create(config) as StageImpl<unknown, unknown>;
    const holds = impl.kind === "group" ? impl.size : impl.kind === "reorder" ? impl.holds : 0;
    const runRecord: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(runOptions)) if (value !== undefined) runRecord[key] = value;
    const stage: Stage<unknown, unknown> = {
      name: definition.name,
      in: definition.in,
      out: definition.out,
      config: Object.freeze({ ...(config as Record<string, unknown>) }),
      run: resolved,
      usesCpu: definition.usesCpu ?? false,
      impl,
      holds,
      toSpec: () => ({ stage: definition.name, ...(config as Record<string, unknown>), ...runRecord }),
      apply: (ctx) => applyStages([stage], ctx, valueCarrier),
    };
    return stage;
  };

  const factory = (...args: unknown[]) => build(args[0], args[1], []);
  const fromSpec = (record: Record<string, unknown>, path: (string | number)[] = []) => {
    const config: Record<string, unknown> = {};
    const run: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record)) {
      if (key === "stage") continue;
      if (runOptionKeys.includes(key)) run[key] = value;
      else config[key] = value;
    }
    return build(config, run, path);
  };
  return Object.assign(factory, { definition, specSchema, fromSpec }) as unknown as StageFactory<N, S, IP, OP>;
}
