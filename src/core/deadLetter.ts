/**
 * The dead-letter sink: every sample a stage gives up on is written as one JSONL record (key, uri, stage, error tag,
 * message, attempts, time) and counted by stage and tag, so nothing is dropped silently.
 */
import { JsonlWriter } from "./metrics.ts";
import type { ClipflowError } from "./errors.ts";

export interface DeadLetter {
  key: string;
  uri: string | undefined;
  stage: string;
  error: string;
  message: string;
  attempts: number;
  time: string;
}

export class DeadLetterSink {
  readonly records: DeadLetter[] = [];
  readonly counts = new Map<string, number>();
  private readonly writer: JsonlWriter | undefined;

  /** `path` undefined keeps records in memory only (the most recent `keep`). */
  constructor(
    path?: string,
    private readonly keep = 10_000,
  ) {
    this.writer = path === undefined ? undefined : new JsonlWriter(path);
  }

  get total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  write(error: ClipflowError, stage: string, key: string, uri: string | undefined, attempts: number): DeadLetter {
    const record: DeadLetter = {
      key,
      uri,
      stage,
      error: error.tag,
      message: error.message,
      attempts,
      time: new Date().toISOString(),
    };
    this.writer?.write({ ...record });
    this.records.push(record);
    if (this.records.length > this.keep) this.records.shift();
    const label = `${stage}:${error.tag}`;
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    return record;
  }

  /** `decode: 2 CorruptFile, 1 Timeout` per stage, or "none". */
  summary(): string {
    if (this.counts.size === 0) return "none";
    return [...this.counts.entries()].map(([label, count]) => `${label} ×${count}`).join(", ");
  }
}
