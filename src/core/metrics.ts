/**
 * Run metrics: per-stage counters and timings (throughput, busy time, starved time, queue depth), run-level counters
 * (pulled, emitted, in flight, dead letters), a progress line for a TTY and JSONL snapshots otherwise.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

export class StageMetrics {
  inputs = 0;
  outputs = 0;
  errors = 0;
  skipped = 0;
  retries = 0;
  /** Items dropped by design (e.g. the partial last group), counted so nothing disappears silently. */
  dropped = 0;
  busyMs = 0;
  /** Time with nothing to do (no input waiting, nothing running): the stage was starved by its upstream. */
  starvedMs = 0;
  active = 0;
  queued = 0;
  maxQueued = 0;
  private idleSince: number | undefined = performance.now();

  constructor(
    readonly id: string,
    readonly name: string,
  ) {}

  enqueue(): void {
    this.inputs++;
    this.queued++;
    if (this.queued > this.maxQueued) this.maxQueued = this.queued;
    if (this.idleSince !== undefined) {
      this.starvedMs += performance.now() - this.idleSince;
      this.idleSince = undefined;
    }
  }

  start(): number {
    this.queued--;
    this.active++;
    return performance.now();
  }

  finish(startedAt: number, outputs: number): void {
    this.active--;
    this.outputs += outputs;
    this.busyMs += performance.now() - startedAt;
    if (this.active === 0 && this.queued === 0) this.idleSince = performance.now();
  }

  snapshot(elapsedMs: number): Record<string, number | string> {
    return {
      stage: this.id,
      in: this.inputs,
      out: this.outputs,
      per_s: elapsedMs > 0 ? round((this.outputs * 1000) / elapsedMs) : 0,
      busy_ms: round(this.busyMs),
      starved_ms: round(this.starvedMs),
      queue: this.queued + this.active,
      max_queue: this.maxQueued,
      errors: this.errors,
      skipped: this.skipped,
      retries: this.retries,
      dropped: this.dropped,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

export class RunMetrics {
  readonly stages: StageMetrics[] = [];
  readonly startedAt = performance.now();
  pulled = 0;
  emitted = 0;
  inFlight = 0;
  maxInFlightSeen = 0;
  /** Samples the sink has consumed (a batch counts its samples when known). */
  consumed = 0;

  constructor(readonly total: number | undefined = undefined) {}

  stage(id: string, name: string): StageMetrics {
    const metrics = new StageMetrics(id, name);
    this.stages.push(metrics);
    return metrics;
  }

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  snapshot(): Record<string, unknown> {
    const elapsed = this.elapsedMs();
    return {
      elapsed_s: round(elapsed / 1000),
      pulled: this.pulled,
      emitted: this.emitted,
      in_flight: this.inFlight,
      max_in_flight: this.maxInFlightSeen,
      per_s: elapsed > 0 ? round((this.pulled * 1000) / elapsed) : 0,
      stages: this.stages.map((stage) => stage.snapshot(elapsed)),
    };
  }

  /** `pulled 120/1000 · 35.2/s · ETA 25s · in flight 16 · decode q3 · skipped 2` */
  progressLine(): string {
    const elapsed = this.elapsedMs() / 1000;
    const rate = elapsed > 0 ? this.pulled / elapsed : 0;
    const parts = [
      this.total === undefined ? `${this.pulled} samples` : `${this.pulled}/${this.total} samples`,
      `${rate.toFixed(1)}/s`,
    ];
    if (this.total !== undefined && rate > 0) parts.push(`ETA ${formatDuration((this.total - this.pulled) / rate)}`);
    parts.push(`in flight ${this.inFlight}`);
    const busiest = [...this.stages].sort((a, b) => b.busyMs - a.busyMs)[0];
    if (busiest) parts.push(`busiest ${busiest.id}`);
    const skipped = this.stages.reduce((sum, stage) => sum + stage.skipped, 0);
    if (skipped > 0) parts.push(`skipped ${skipped}`);
    return parts.join(" · ");
  }
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Appends one JSON object per line (creating the folder); the metrics.jsonl and dead-letter.jsonl writer. */
export class JsonlWriter {
  private ready = false;

  constructor(readonly path: string) {}

  write(record: Record<string, unknown>): void {
    if (!this.ready) {
      mkdirSync(dirname(this.path), { recursive: true });
      this.ready = true;
    }
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}

export interface ProgressOptions {
  /** Where the live line goes (default process.stderr). */
  stream?: NodeJS.WriteStream | undefined;
  /** JSONL file for periodic snapshots (written whether or not there is a TTY). */
  jsonl?: string | undefined;
  intervalMs?: number | undefined;
}

/**
 * Shows progress while a run goes: a rewritten line on a TTY; on a non-TTY a JSON snapshot line per interval.
 * Returns a stop function that prints the final state.
 */
export function startProgress(metrics: RunMetrics, options: ProgressOptions = {}): () => void {
  const stream = options.stream ?? process.stderr;
  const writer = options.jsonl === undefined ? undefined : new JsonlWriter(options.jsonl);
  const tty = stream.isTTY === true;
  const tick = () => {
    if (tty) stream.write(`\r\x1b[2K${metrics.progressLine()}`);
    else stream.write(`${JSON.stringify({ progress: metrics.progressLine() })}\n`);
    writer?.write({ time: new Date().toISOString(), ...metrics.snapshot() });
  };
  const timer = setInterval(tick, options.intervalMs ?? (tty ? 250 : 10_000));
  timer.unref();
  return () => {
    clearInterval(timer);
    if (tty) stream.write(`\r\x1b[2K${metrics.progressLine()}\n`);
    writer?.write({ time: new Date().toISOString(), final: true, ...metrics.snapshot() });
  };
}
