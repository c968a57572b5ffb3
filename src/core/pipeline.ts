/**
 * Typed composition in code. `chain(a, b, c)` is a compile error when a stage's input type is not its predecessor's
 * output type; the result is a Pipeline that applies as one operator on plain values, hands its stages to the runner,
 * and exports the same declarative spec a JSON file would hold.
 */
import { defer, from, identity, map, type Observable, type OperatorFunction } from "rxjs";
import { DeadLetterSink } from "./deadLetter.ts";
import { RunMetrics } from "./metrics.ts";
import { ClipflowError } from "./errors.ts";
import type { InPort, OutPort, Stage, StageContext, StageSpecRecord } from "./stage.ts";
import { stageOperator, valueCarrier, type Carrier } from "./stageOperator.ts";

/** Anything with typed ends: a stage or a pipeline. */
export interface Part<I, O> {
  readonly __in?: (input: I) => void;
  readonly __out?: () => O;
}

export interface Pipeline<I, O> extends Part<I, O> {
  readonly stages: readonly Stage<unknown, unknown>[];
  /** Runs the whole pipeline as one operator on plain values (no backpressure: that is the runner's job). */
  apply(ctx: ApplyContext): OperatorFunction<I, O>;
  toSpec(): StageSpecRecord[];
}

export interface ApplyContext extends StageContext {
  deadLetters?: DeadLetterSink | undefined;
  metrics?: RunMetrics | undefined;
}

type AnyPart = Stage<unknown, unknown> | Pipeline<unknown, unknown>;

export function chain<A, B>(p1: Part<A, B>): Pipeline<A, B>;
export function chain<A, B, C>(p1: Part<A, B>, p2: Part<B, C>): Pipeline<A, C>;
export function chain<A, B, C, D>(p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>): Pipeline<A, D>;
export function chain<A, B, C, D, E>(p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>): Pipeline<A, E>;
export function chain<A, B, C, D, E, F>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>,
): Pipeline<A, F>;
export function chain<A, B, C, D, E, F, G>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>, p6: Part<F, G>,
): Pipeline<A, G>;
export function chain<A, B, C, D, E, F, G, H>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>, p6: Part<F, G>, p7: Part<G, H>,
): Pipeline<A, H>;
export function chain<A, B, C, D, E, F, G, H, J>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>, p6: Part<F, G>, p7: Part<G, H>,
  p8: Part<H, J>,
): Pipeline<A, J>;
export function chain<A, B, C, D, E, F, G, H, J, K>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>, p6: Part<F, G>, p7: Part<G, H>,
  p8: Part<H, J>, p9: Part<J, K>,
): Pipeline<A, K>;
export function chain<A, B, C, D, E, F, G, H, J, K, L>(
  p1: Part<A, B>, p2: Part<B, C>, p3: Part<C, D>, p4: Part<D, E>, p5: Part<E, F>, p6: Part<F, G>, p7: Part<G, H>,
  p8: Part<H, J>, p9: Part<J, K>, p10: Part<K, L>,
): Pipeline<A, L>;
export function chain(...parts: Part<unknown, unknown>[]): Pipeline<unknown, unknown> {
  const stages = (parts as AnyPart[]).flatMap((part) => ("stages" in part ? part.stages : [part]));
  checkStagePorts(stages);
  return pipelineOf(stages);
}

/**
 * Checks that each stage takes what its predecessor emits (a pass-through stage keeps its predecessor's port) and
 * that only the first stage is a source. The compile-time check of `chain`, again at run time for specs and JS callers.
 */
export function checkStagePorts(stages: readonly { name: string; in: InPort; out: OutPort }[]): void {
  let previous: { port: string; index: number; name: string } | undefined;
  stages.forEach((stage, index) => {
    if (stage.in === "none" && index > 0) {
      throw new ClipflowError("SpecError", `stages[${index}] (${stage.name}) is a source: only stages[0] can be a source`, {
        field: `stages[${index}]`,
      });
    }
    if (previous !== undefined && stage.in !== "any" && stage.in !== previous.port) {
      throw new ClipflowError(
        "SpecError",
        `stages[${index}] (${stage.name}) takes ${stage.in} but stages[${previous.index}] (${previous.name}) emits ${previous.port}`,
        { field: `stages[${index}]` },
      );
    }
    previous = { port: stage.out === "same" ? (previous?.port ?? "any") : stage.out, index, name: stage.name };
  });
}

/** A pipeline over an already checked list of stages (the spec compiler's path). */
export function pipelineOf(stages: readonly Stage<unknown, unknown>[]): Pipeline<unknown, unknown> {
  return {
    stages,
    apply: (ctx) => applyStages(stages, ctx, valueCarrier),
    toSpec: () => stages.map((stage) => stage.toSpec()),
  };
}

/** Stage ids: the run option id, else the name, with #2, #3 ... for repeats. */
export function stageIds(stages: readonly Stage<unknown, unknown>[]): string[] {
  const seen = new Map<string, number>();
  return stages.map((stage) => {
    const base = stage.run.id ?? stage.name;
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return count === 1 ? base : `${base}#${count}`;
  });
}

/**
 * Composes the stages' operators over a carrier. A leading source stage ignores the input stream and emits its items
 * (no backpressure here; the runner pulls sources itself).
 */
export function applyStages<E>(
  stages: readonly Stage<unknown, unknown>[],
  ctx: ApplyContext,
  carrier: Carrier<E>,
  wrapSourceItem?: (value: unknown) => E,
): OperatorFunction<E, E> {
  const ids = stageIds(stages);
  const deadLetters = ctx.deadLetters ?? new DeadLetterSink();
  const metrics = ctx.metrics ?? new RunMetrics();
  const operators: OperatorFunction<E, E>[] = stages.map((stage, index) => {
    const id = ids[index] as string;
    const impl = stage.impl;
    if (impl.kind === "source") {
      if (index !== 0) return stageOperator(stage, { ...ctx, id, deadLetters, metrics: metrics.stage(id, stage.name) }, carrier);
      const wrap = wrapSourceItem ?? ((value: unknown) => value as E);
      return (): Observable<E> => defer(() => from(impl.items({ ...ctx, stage: id }))).pipe(map(wrap));
    }
    return stageOperator(stage, { ...ctx, id, deadLetters, metrics: metrics.stage(id, stage.name) }, carrier);
  });
  return (source) => operators.reduce<Observable<E>>((stream, operator) => operator(stream), source.pipe(identity));
}
