/**
 * Parallel map with bounded concurrency, ordered by default (a reorder buffer releases results in input order) and
 * unordered as an opt-in. A project function may answer synchronously (the result flows on in the same tick, which
 * keeps marble tests in virtual time), with a promise, or with an observable (its first value). Each input yields an
 * array of outputs (0..n), so the same operator serves map, flatMap and filter. Unsubscribing aborts the signal given
 * to running tasks.
 */
import { Observable, isObservable, type OperatorFunction, type Subscription } from "rxjs";

export type Eventually<T> = T | PromiseLike<T> | Observable<T>;

export interface ParallelOptions {
  concurrency: number;
  ordered: boolean;
  /** Called when an input is queued / a task starts / a task ends with n outputs (metrics). */
  onQueued?: (() => void) | undefined;
  onStart?: (() => number) | undefined;
  onFinish?: ((startedAt: number, outputs: number) => void) | undefined;
}

export function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return (
    typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function"
  );
}

export function parallelMap<A, B>(
  project: (input: A, index: number, signal: AbortSignal) => Eventually<B[]>,
  options: ParallelOptions,
): OperatorFunction<A, B> {
  const { concurrency, ordered } = options;
  if (!(concurrency >= 1)) throw new RangeError(`concurrency must be >= 1, got ${concurrency}`);
  return (source) =>
    new Observable<B>((subscriber) => {
      const controller = new AbortController();
      const waiting: [A, number][] = [];
      const results = new Map<number, B[]>();
      const inner = new Set<Subscription>();
      let active = 0;
      let nextIndex = 0;
      let nextToEmit = 0;
      let sourceDone = false;
      let closed = false;

      const fail = (error: unknown) => {
        if (closed) return;
        closed = true;
        subscriber.error(error);
      };
      const maybeComplete = () => {
        if (!closed && sourceDone && active === 0 && waiting.length === 0 && results.size === 0) {
          closed = true;
          subscriber.complete();
        }
      };
      const emit = (values: B[]) => {
        for (const value of values) {
          if (closed) return;
          subscriber.next(value);
        }
      };
      const finish = (index: number, startedAt: number, values: B[]) => {
        if (closed) return;
        active--;
        options.onFinish?.(startedAt, values.length);
        if (ordered) {
          results.set(index, values);
          while (results.has(nextToEmit)) {
            const ready = results.get(nextToEmit) as B[];
            results.delete(nextToEmit);
            nextToEmit++;
            emit(ready);
          }
        } else {
          emit(values);
        }
        pump();
        maybeComplete();
      };
      const start = (input: A, index: number) => {
        active++;
        const startedAt = options.onStart?.() ?? 0;
        let result: Eventually<B[]>;
        try {
          result = project(input, index, controller.signal);
        } catch (error) {
          fail(error);
          return;
        }
        if (isObservable(result)) {
          let settled = false;
          let subscription: Subscription | undefined;
          const settle = (values: B[]) => {
            if (settled) return;
            settled = true;
            if (subscription) inner.delete(subscription);
            finish(index, startedAt, values);
          };
          subscription = result.subscribe({ next: settle, error: fail, complete: () => settle([]) });
          if (settled) subscription.unsubscribe();
          else inner.add(subscription);
        } else if (isPromiseLike<B[]>(result)) {
          result.then((values) => finish(index, startedAt, values), fail);
        } else {
          finish(index, startedAt, result);
        }
      };
      const pump = () => {
        while (!closed && active < concurrency && waiting.length > 0) {
          const [input, index] = waiting.shift() as [A, number];
          start(input, index);
        }
      };

      const upstream = source.subscribe({
        next: (input) => {
          options.onQueued?.();
          waiting.push([input, nextIndex++]);
          pump();
        },
        error: fail,
        complete: () => {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => {
        closed = true;
        controller.abort();
        upstream.unsubscribe();
        for (const subscription of inner) subscription.unsubscribe();
      };
    });
}
