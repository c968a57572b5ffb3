/**
 * The runner (DESIGN.md §4): pulls a pipeline's source, never drains it. Every source item takes a permit; a permit
 * comes back only when everything derived from that item has been consumed by the sink or has left the pipeline
 * (skipped, dead-lettered, dropped). So at most `maxInFlight` source items are alive anywhere between source and
 * sink, whatever the dataset size and however slow the sink. Failures follow each stage's policy; randomness comes
 * from rng(seed, epoch, stage, key); an abort signal stops the source, running tasks and workers.
 */
import { Observable, type Subscription } from "rxjs";
import { inlinePool, type CpuPool } from "./cpuPool.ts";
import { DeadLetterSink } from "./deadLetter.ts";
import { ClipflowError, toClipflowError } from "./errors.ts";
import { RunMetrics, startProgress, type ProgressOptions } from "./metrics.ts";
import { isPromiseLike, parallelMap } from "./parallelMap.ts";
import { applyStages, stageIds, type Pipeline } from "./pipeline.ts";
import type { Stage, StageContext } from "./stage.ts";
import { describeValue, type Carrier } from "./stageOperator.ts";

export interface RunnerOptions {
  seed?: number;
  epoch?: number;
  /** Source items alive at once between source and sink (default 32). */
  maxInFlight?: number;
  cpu?: CpuPool;
  signal?: AbortSignal;
  deadLetters?: DeadLetterSink;
  metrics?: RunMetrics;
  log?: (line: string) => void;
  /** Live progress (TTY line / JSONL snapshots); off by default. */
  progress?: ProgressOptions | boolean;
  /** Stop after the sink has consumed this many outputs. */
  limit?: number;
}

export interface SinkInfo {
  /** 0-based index of this output. */
  index: number;
  /** Ends the run after this output (status "stopped"); the source is not pulled further. */
  stop(): void;
}

export type Sink<O> = (value: O, info: SinkInfo) => void | Promise<void>;

export interface RunSummary {
  status: "completed" | "stopped" | "cancelled";
  /** Items pulled from the source. */
  pulled: number;
  /** Outputs consumed by the sink. */
  emitted: number;
  maxInFlightSeen: number;
  deadLetters: number;
  deadLetterSummary: string;
  elapsedMs: number;
  metrics: Record<string, unknown>;
}

interface Permit {
  refs: number;
}

interface Envelope {
  v: unknown;
  holds: Permit[];
  origin: { key: string; uri: string | undefined };
}

/** Counts permits; `acquire` waits while `maxInFlight` are taken. */
class Permits {
  inUse = 0;
  maxSeen = 0;
  private waiters: ((granted: boolean) => void)[] = [];

  constructor(readonly max: number) {}

  /** Takes a permit now (undefined) or waits for one; a waiter woken by `drain` gets no permit (false). */
  acquire(): Promise<boolean> | undefined {
    if (this.inUse < this.max) {
      this.take();
      return undefined;
    }
    return new Promise<boolean>((resolve) => this.waiters.push(resolve));
  }

  private take(): void {
    this.inUse++;
    if (this.inUse > this.maxSeen) this.maxSeen = this.inUse;
  }

  release(): void {
    this.inUse--;
    const next = this.waiters.shift();
    if (next) {
      this.take();
      next(true);
    }
  }

  /** Wakes every waiter without a permit (shutdown). */
  drain(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter(false);
  }
}

/** Checks the items stages hold at once (group sizes, shuffle buffers) against maxInFlight: more would deadlock. */
export function checkHolds(stages: readonly Stage<unknown, unknown>[], maxInFlight: number): void {
  const ids = stageIds(stages);
  const holding = stages.map((stage, index) => [ids[index] as string, stage.holds] as const).filter(([, n]) => n > 0);
  const total = holding.reduce((sum, [, n]) => sum + n, 0);
  if (total >= maxInFlight) {
    const parts = holding.map(([id, n]) => `${id} ${n}`).join(" + ");
    throw new ClipflowError(
      "ConfigError",
      `maxInFlight (${maxInFlight}) must exceed the items stages hold at once (${parts} = ${total}); raise it or hold fewer`,
      { field: "maxInFlight" },
    );
  }
}

/** Runs a pipeline that starts with a source into a sink; resolves with a summary, rejects on a `fail` error. */
export async function runPipeline<O>(
  pipeline: Pipeline<never, O> | readonly Stage<unknown, unknown>[],
  sink: Sink<O>,
  options: RunnerOptions = {},
): Promise<RunSummary> {
  const stages = "stages" in pipeline ? pipeline.stages : pipeline;
  const source = stages[0];
  if (source === undefined || source.impl.kind !== "source") {
    throw new ClipflowError("SpecError", "a pipeline run needs a source stage first", { field: "stages[0]" });
  }
  const sourceImpl = source.impl;
  const maxInFlight = options.maxInFlight ?? 32;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
    throw new ClipflowError("ConfigError", `maxInFlight must be a positive integer, got ${maxInFlight}`, { field: "maxInFlight" });
  }
  checkHolds(stages, maxInFlight);
  const signal = options.signal ?? new AbortController().signal;
  if (signal.aborted) throw new ClipflowError("Cancelled", "the run was cancelled before it started", { cause: signal.reason });
  const metrics = options.metrics ?? new RunMetrics(sourceImpl.size);
  const deadLetters = options.deadLetters ?? new DeadLetterSink();
  const ctx: StageContext = {
    seed: options.seed ?? 0,
    epoch: options.epoch ?? 0,
    cpu: options.cpu ?? inlinePool(),
    signal,
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
  const permits = new Permits(maxInFlight);
  const release = (holds: Permit[]) => {
    for (const permit of holds) {
      if (--permit.refs === 0) {
        permits.release();
        metrics.inFlight = permits.inUse;
      }
    }
  };
  const carrier: Carrier<Envelope> = {
    value: (item) => item.v,
    origin: (item) => {
      const own = describeValue(item.v);
      return { key: own.key ?? item.origin.key, uri: own.uri ?? item.origin.uri };
    },
    derive: (item, values) => {
      if (values.length === 0) {
        release(item.holds);
        return [];
      }
      for (const permit of item.holds) permit.refs += values.length - 1;
      return values.map((v) => ({ v, holds: item.holds, origin: item.origin }));
    },
    merge: (items, v) => ({ v, holds: items.flatMap((item) => item.holds), origin: (items[0] as Envelope).origin }),
    drop: (item) => release(item.holds),
  };

  const sourceId = stageIds(stages)[0] as string;
  const pulled = new Observable<Envelope>((subscriber) => {
    let closed = false;
    const iterable = sourceImpl.items({ ...ctx, stage: sourceId });
    const iterator: AsyncIterator<unknown> | Iterator<unknown> =
      Symbol.asyncIterator in iterable
        ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (iterable as Iterable<unknown>)[Symbol.iterator]();
    const loop = async () => {
      let index = 0;
      while (!closed) {
        const waiting = permits.acquire();
        if (waiting !== undefined && !(await waiting)) break;
        if (closed) {
          permits.release();
          break;
        }
        const next = await iterator.next();
        if (closed || next.done === true) {
          permits.release();
          break;
        }
        metrics.pulled++;
        metrics.inFlight = permits.inUse;
        metrics.maxInFlightSeen = permits.maxSeen;
        const { key, uri } = describeValue(next.value);
        subscriber.next({ v: next.value, holds: [{ refs: 1 }], origin: { key: key ?? `${sourceId}:${index}`, uri } });
        index++;
      }
      if (!closed) subscriber.complete();
    };
    loop().catch((error: unknown) => {
      if (!closed) subscriber.error(toClipflowError(error, { stage: sourceId }));
    });
    return () => {
      closed = true;
      permits.drain();
      void Promise.resolve(iterator.return?.()).catch(() => {});
    };
  });

  let stopRequested = false;
  let stopRun: (() => void) | undefined;
  const consumed = parallelMap<Envelope, never>(
    (item) => {
      const index = metrics.emitted;
      const info: SinkInfo = {
        index,
        stop: () => {
          stopRequested = true;
        },
      };
      const done = (): never[] => {
        metrics.emitted++;
        const batchSize = (item.v as { keys?: unknown[] } | null)?.keys?.length;
        metrics.consumed += typeof batchSize === "number" ? batchSize : 1;
        release(item.holds);
        if (options.limit !== undefined && metrics.emitted >= options.limit) stopRequested = true;
        if (stopRequested) stopRun?.();
        return [];
      };
      let result: void | Promise<void>;
      try {
        result = sink(item.v as O, info);
      } catch (error) {
        throw toClipflowError(error, { stage: "sink", key: carrier.origin(item).key });
      }
      if (isPromiseLike(result)) {
        return Promise.resolve(result).then(done, (error: unknown) => {
          throw toClipflowError(error, { stage: "sink", key: carrier.origin(item).key });
        });
      }
      return done();
    },
    { concurrency: 1, ordered: true },
  );

  const stream = pulled.pipe(applyStages(stages.slice(1), { ...ctx, deadLetters, metrics }, carrier), consumed);
  const stopProgress =
    options.progress === undefined || options.progress === false
      ? undefined
      : startProgress(metrics, options.progress === true ? {} : options.progress);

  const status = await new Promise<RunSummary["status"]>((resolve, reject) => {
    let subscription: Subscription | undefined;
    let settled = false;
    const settle = (outcome: RunSummary["status"] | Error) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      subscription?.unsubscribe();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = () => settle("cancelled");
    stopRun = () => queueMicrotask(() => settle("stopped"));
    signal.addEventListener("abort", onAbort, { once: true });
    subscription = stream.subscribe({
      complete: () => settle("completed"),
      error: (error: unknown) => settle(signal.aborted ? "cancelled" : toClipflowError(error)),
    });
    if (settled) subscription.unsubscribe();
  }).finally(() => stopProgress?.());

  metrics.maxInFlightSeen = permits.maxSeen;
  return {
    status,
    pulled: metrics.pulled,
    emitted: metrics.emitted,
    maxInFlightSeen: permits.maxSeen,
    deadLetters: deadLetters.total,
    deadLetterSummary: deadLetters.summary(),
    elapsedMs: metrics.elapsedMs(),
    metrics: metrics.snapshot(),
  };
}

/** An AbortSignal that fires on the first SIGINT/SIGTERM; a second SIGINT exits at once. */
export function interruptSignal(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): {
  signal: AbortSignal;
  dispose: () => void;
} {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    log(`\n${name}: stopping cleanly (press Ctrl-C again to exit at once)`);
    controller.abort(new ClipflowError("Cancelled", `interrupted by ${name}`));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** The end-of-run summary line: what was read and produced, what failed, and where it went. */
export function formatSummary(summary: RunSummary): string {
  const seconds = (summary.elapsedMs / 1000).toFixed(1);
  const rate = summary.elapsedMs > 0 ? ((summary.pulled * 1000) / summary.elapsedMs).toFixed(1) : "0";
  const stages = (summary.metrics.stages ?? []) as { stage: string; skipped: number; dropped: number; retries: number }[];
  const dropped = stages.filter((stage) => stage.dropped > 0).map((stage) => `${stage.stage} ${stage.dropped}`);
  const retries = stages.reduce((sum, stage) => sum + stage.retries, 0);
  return [
    `${summary.status}: ${summary.pulled} read, ${summary.emitted} out in ${seconds}s (${rate}/s)`,
    `dead letters: ${summary.deadLetters === 0 ? "none" : `${summary.deadLetters} (${summary.deadLetterSummary})`}`,
    ...(retries > 0 ? [`retries: ${retries}`] : []),
    ...(dropped.length > 0 ? [`dropped by design: ${dropped.join(", ")}`] : []),
  ].join(" · ");
}
