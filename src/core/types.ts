/**
 * The data model (DESIGN.md §2). Everything up to the model step is plain data: typed arrays with explicit shapes and
 * layouts. Tensors exist only inside the train/eval step.
 */

/** An action (or background) segment of an untrimmed video, in seconds. label -1 = background ("No action"). */
export interface Segment {
  start: number;
  end: number;
  label: number;
  region: "Action" | "No action";
  className?: string;
}

/** A video to read: a local path, a tar-shard member or an http(s) URL, with optional label, split and segments. */
export interface VideoRef {
  id: string;
  uri: string;
  label?: number;
  className?: string;
  split?: string;
  segments?: Segment[];
  meta?: Record<string, unknown>;
}

/** Frames of one clip, always THWC with an explicit layout, plus where they came from. */
export interface Frames {
  data: Uint8Array | Float32Array;
  shape: [t: number, h: number, w: number, c: number];
  layout: "THWC";
  videoId: string;
  /** Frame indices actually decoded (one per t). */
  indices: number[];
  /** Presentation times in seconds, one per t, when known. */
  pts?: number[];
  fps?: number;
}

/** One training sample: named views (rgb, flow, anchor, positive ...) and named targets. */
export interface Sample {
  key: string;
  /** The video this sample came from. */
  videoId: string;
  uri?: string;
  views: Record<string, Frames>;
  targets: Record<string, number | Float32Array>;
  meta: Record<string, unknown>;
}

/** A stacked array with its shape, e.g. a view of a batch: [B, T, H, W, C]. */
export interface Stacked {
  data: Uint8Array | Float32Array;
  shape: number[];
  layout: string;
}

/** Samples stacked view by view and target by target, ready for the model step. */
export interface Batch {
  keys: string[];
  videoIds: string[];
  views: Record<string, Stacked>;
  targets: Record<string, Stacked>;
  meta: Record<string, unknown>[];
}

/**
 * What flows between stages, by port name. Stages declare the port they take and the one they emit; the spec compiler
 * checks neighbours against each other and `chain()` checks them at compile time. Extend it by declaration merging
 * (`declare module "clipflow/core/types.ts" { interface PortTypes { myPort: MyType } }`).
 */
export interface PortTypes {
  video: VideoRef;
  sample: Sample;
  batch: Batch;
  /** Plain numbers a train/eval step emits (loss terms, lr, timings). */
  metrics: Record<string, number>;
}

export type PortName = keyof PortTypes;
