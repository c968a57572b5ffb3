/**
 * Typed errors. Every failure clipflow reports is a `ClipflowError` with a `tag` (a stable, machine-readable kind),
 * and, where known, the stage, sample key, file (uri) and config field it concerns, plus the underlying cause.
 * Per-sample errors become dead-letter records; configuration errors stop a run before anything starts.
 */
export const errorTags = [
  "ConfigError",
  "SpecError",
  "DecodeError",
  "CorruptFile",
  "NoVideoStream",
  "TooShort",
  "Timeout",
  "BadAnnotation",
  "MissingFile",
  "Cancelled",
  "KernelError",
  "StageError",
  "CheckpointError",
] as const;
export type ErrorTag = (typeof errorTags)[number];

export interface ErrorContext {
  stage?: string | undefined;
  key?: string | undefined;
  uri?: string | undefined;
  field?: string | undefined;
  cause?: unknown;
}

export class ClipflowError extends Error {
  readonly tag: ErrorTag;
  readonly stage: string | undefined;
  readonly key: string | undefined;
  readonly uri: string | undefined;
  readonly field: string | undefined;

  constructor(tag: ErrorTag, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = tag;
    this.tag = tag;
    this.stage = context.stage;
    this.key = context.key;
    this.uri = context.uri;
    this.field = context.field;
  }

  /** This error, also naming the stage / sample / file it happened in (fields already set win). */
  within(context: ErrorContext): ClipflowError {
    const stage = this.stage ?? context.stage;
    const key = this.key ?? context.key;
    const uri = this.uri ?? context.uri;
    const field = this.field ?? context.field;
    if (stage === this.stage && key === this.key && uri === this.uri && field === this.field) return this;
    const error = new ClipflowError(this.tag, this.message, { stage, key, uri, field, cause: this.cause });
    if (this.stack !== undefined) error.stack = this.stack;
    return error;
  }

  /** One line naming where: `[stage decode | key v_x_g01_c01 | file a.mp4] message`. */
  describe(): string {
    const where = [
      this.stage === undefined ? undefined : `stage ${this.stage}`,
      this.key === undefined ? undefined : `key ${this.key}`,
      this.uri === undefined ? undefined : `file ${this.uri}`,
      this.field === undefined ? undefined : `field ${this.field}`,
    ].filter((part) => part !== undefined);
    return where.length === 0 ? `${this.tag}: ${this.message}` : `${this.tag} [${where.join(" | ")}]: ${this.message}`;
  }
}

/** A ClipflowError as plain data (structured clone keeps only an Error's message, not its tag or context). */
export interface ErrorRecord {
  tag: ErrorTag;
  message: string;
  stage?: string | undefined;
  key?: string | undefined;
  uri?: string | undefined;
  field?: string | undefined;
}

export function errorToRecord(error: ClipflowError): ErrorRecord {
  return { tag: error.tag, message: error.message, stage: error.stage, key: error.key, uri: error.uri, field: error.field };
}

export function errorFromRecord(record: ErrorRecord): ClipflowError {
  return new ClipflowError(record.tag, record.message, record);
}

/** Wraps anything thrown into a ClipflowError (unknown errors become StageError), keeping the original as cause. */
export function toClipflowError(error: unknown, context: ErrorContext = {}): ClipflowError {
  if (error instanceof ClipflowError) return error.within(context);
  if (isAbortError(error)) return new ClipflowError("Cancelled", "cancelled", { ...context, cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new ClipflowError("StageError", message, { ...context, cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === "object" &&
    error !== null &&
    ((error as { name?: unknown }).name === "AbortError" || (error as { tag?: unknown }).tag === "Cancelled")
  );
}
