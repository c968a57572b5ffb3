/**
 * Turns a configured stage into an RxJS operator. The same code runs a stage on plain values (`stage.apply(ctx)`,
 * used in code and in marble tests) and on the runner's envelopes (values plus the source permits they hold, which is
 * how the runner bounds what is in flight): a Carrier says how outputs inherit from inputs. Error policies, retries,
 * dead letters, timeouts, concurrency, ordering and metrics live here, once, for every stage.
 */
import { Observable, catchError, firstValueFrom, map, of, take, type OperatorFunction } from "rxjs";
import { DeadLetterSink } from "./deadLetter.ts";
import { ClipflowError, toClipflowError } from "./errors.ts";
import { StageMetrics } from "./metrics.ts";
import { isPromiseLike, parallelMap, type Eventually } from "./parallelMap.ts";
import { rngFor, type Rng } from "./rng.ts";
import type { SampleContext, Stage, StageContext } from "./stage.ts";

/** How outputs of a stage inherit from its inputs. */
export interface Carrier<E> {
  value(item: E): unknown;
  /** The key and file an item concerns (for RNG streams and dead letters). */
  origin(item: E): { key: string; uri: string | undefined };
  /** One input became these outputs (none: it was dropped). */
  derive(item: E, values: unknown[]): E[];
  /** Several inputs became one output. */
  merge(items: E[], value: unknown): E;
  /** An input leaves the pipeline without output (skipped, dead-lettered, dropped partial group). */
  drop(item: E): void;
}

/** Reads `key` (or `id`, or `keys`) and `uri` off a value. */
export function describeValue(value: unknown): { key: string | undefined; uri: string | undefined } {
  if (typeof value !== "object" || value === null) return { key: undefined, uri: undefined };
  const record = value as { key?: unknown; id?: unknown; keys?: unknown; uri?: unknown };
  const key =
    typeof record.key === "string"
      ? record.key
      : typeof record.id === "string"
        ? record.id
        : Array.isArray(record.keys)
          ? record.keys.join("+")
          : undefined;
  return { key, uri: typeof record.uri === "string" ? record.uri : undefined };
}

/** Plain values: outputs are just values; nothing to release. */
export const valueCarrier: Carrier<unknown> = {
  value: (item) => item,
  origin: (item) => {
    const { key, uri } = describeValue(item);
    return { key: key ?? "?", uri };
  },
  derive: (_item, values) => values,
  merge: (_items, value) => value,
  drop: () => {},
};

export interface OperatorContext extends StageContext {
  deadLetters: DeadLetterSink;
  metrics: StageMetrics;
  /** The stage's id in this pipeline (metrics, dead letters, RNG stream). */
  id: string;
}

export function stageOperator<E>(stage: Stage<unknown, unknown>, ctx: OperatorContext, carrier: Carrier<E>): OperatorFunction<E, E> {
  const impl = stage.impl;
  const { id, metrics, deadLetters } = ctx;
  switch (impl.kind) {
    case "source":
      throw new ClipflowError("SpecError", `stage ${id} is a source: it can only come first`, { stage: id });
    case "reorder": {
      const reorder = impl.reorder<E>({ ...ctx, stage: id });
      return (source) =>
        new Observable<E>((subscriber) =>
          reorder(
            new Observable<E>((inner) =>
              source.subscribe({
                next: (item) => {
                  metrics.enqueue();
                  inner.next(item);
                },
                error: (error) => inner.error(error),
                complete: () => inner.complete(),
              }),
            ),
          ).subscribe({
            next: (item) => {
              metrics.finish(metrics.start(), 1);
              subscriber.next(item);
            },
            error: (error) => subscriber.error(error),
            complete: () => subscriber.complete(),
          }),
        );
    }
    case "group":
      return (source) =>
        new Observable<E>((subscriber) => {
          let buffer: E[] = [];
          const flush = () => {
            const items = buffer;
            buffer = [];
            const startedAt = performance.now();
            for (let i = 0; i < items.length; i++) metrics.start();
            const first = carrier.origin(items[0] as E);
            let value: unknown;
            try {
              value = impl.group(items.map((item) => carrier.value(item)), sampleContext(ctx, ctx.signal, first.key, 0));
            } catch (error) {
              subscriber.error(toClipflowError(error, { stage: id, key: first.key, uri: first.uri }));
              return;
            }
            for (let i = 0; i < items.length; i++) metrics.finish(startedAt, i === 0 ? 1 : 0);
            subscriber.next(carrier.merge(items, value));
          };
          return source.subscribe({
            next: (item) => {
              metrics.enqueue();
              buffer.push(item);
              if (buffer.length >= impl.size) flush();
            },
            error: (error) => subscriber.error(error),
            complete: () => {
              if (buffer.length > 0) {
                if (impl.keepPartial) flush();
                else {
                  metrics.dropped += buffer.length;
                  for (const item of buffer) carrier.drop(item);
                  buffer = [];
                }
              }
              subscriber.complete();
            },
          });
        });
    case "map":
    case "flatMap": {
      const policy = stage.run.onError;
      const retries = typeof policy === "object" ? policy.retry : 0;
      const finalPolicy = typeof policy === "object" ? policy.then : policy;
      const timeoutMs = stage.run.timeoutMs;
      // one combined signal per subscription (run abort + this stream's teardown), not one per sample
      let combined: { stream: AbortSignal; signal: AbortSignal } | undefined;
      const signalFor = (stream: AbortSignal): AbortSignal => {
        if (combined?.stream !== stream) combined = { stream, signal: AbortSignal.any([ctx.signal, stream]) };
        return combined.signal;
      };
      return parallelMap<E, E>(
        (item, _index, streamSignal) => {
          const { key, uri } = carrier.origin(item);
          const value = carrier.value(item);
          const signal = signalFor(streamSignal);
          const handle = (error: unknown, attempt: number): Eventually<E[]> => {
            const typed = toClipflowError(error, { stage: id, key, uri });
            if (typed.tag === "Cancelled" || signal.aborted) throw typed;
            metrics.errors++;
            if (attempt < retries) {
              metrics.retries++;
              return run(attempt + 1);
            }
            if (finalPolicy === "skip") {
              deadLetters.write(typed, id, key, uri, attempt + 1);
              metrics.skipped++;
              carrier.drop(item);
              return [];
            }
            throw typed;
          };
          const succeed = (out: unknown): E[] =>
            carrier.derive(item, impl.kind === "map" ? [out] : [...(out as Iterable<unknown>)]);
          const run = (attempt: number): Eventually<E[]> => {
            const watchdog = timeoutMs === undefined ? undefined : new AbortController();
            const taskSignal = watchdog === undefined ? signal : AbortSignal.any([signal, watchdog.signal]);
            const sctx = sampleContext(ctx, taskSignal, key, attempt);
            let result: unknown;
            try {
              result = impl.kind === "map" ? impl.map(value, sctx) : impl.flatMap(value, sctx);
            } catch (error) {
              return handle(error, attempt);
            }
            if (result instanceof Observable) {
              return (result as Observable<unknown>).pipe(
                take(1),
                map(succeed),
                catchError((error: unknown) => {
                  const next = handle(error, attempt);
                  return next instanceof Observable ? next : isPromiseLike<E[]>(next) ? next : of(next);
                }),
              );
            }
            if (isPromiseLike(result)) {
              const guarded = watchdog === undefined ? result : withWatchdog(result, watchdog, timeoutMs as number);
              return Promise.resolve(guarded).then(succeed, (error: unknown) => settle(handle(error, attempt)));
            }
            return succeed(result);
          };
          return run(0);
        },
        {
          concurrency: stage.run.concurrency,
          ordered: stage.run.ordered,
          onQueued: () => metrics.enqueue(),
          onStart: () => metrics.start(),
          onFinish: (startedAt, outputs) => metrics.finish(startedAt, outputs),
        },
      );
    }
  }
}

function settle<T>(value: Eventually<T[]>): T[] | PromiseLike<T[]> {
  return value instanceof Observable ? firstValueFrom(value, { defaultValue: [] }) : value;
}

/** The per-sample context; its rng is made on first use (most stages draw nothing). */
function sampleContext(ctx: OperatorContext, signal: AbortSignal, key: string, attempt: number): SampleContext {
  let rng: Rng | undefined;
  return {
    seed: ctx.seed,
    epoch: ctx.epoch,
    cpu: ctx.cpu,
    log: ctx.log,
    signal,
    stage: ctx.id,
    key,
    get rng() {
      rng ??= rngFor(ctx.seed, ctx.epoch, ctx.id, key);
      return rng;
    },
    attempt,
  };
}

function withWatchdog<T>(task: PromiseLike<T>, watchdog: AbortController, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new ClipflowError("Timeout", `no result after ${timeoutMs} ms`);
      watchdog.abort(error);
      reject(error);
    }, timeoutMs);
    task.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
