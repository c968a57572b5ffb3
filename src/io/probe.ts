/**
 * Probing: one record per video (ok, frames, fps, size, duration, codec, or the typed error), never a throw. Used by
 * `clipflow probe` to index a dataset and find its bad files before a long run.
 */
import { ClipflowError, toClipflowError } from "../core/errors.ts";
import type { VideoRef } from "../core/types.ts";
import { libavInfo } from "./decoders/libav.ts";

export interface ProbeRecord {
  id: string;
  uri: string;
  ok: boolean;
  frames?: number;
  fps?: number;
  width?: number;
  height?: number;
  duration_s?: number;
  codec?: string;
  error?: string;
  message?: string;
}

export function probeVideo(video: VideoRef): ProbeRecord {
  try {
    const info = libavInfo(video.uri);
    if (info.frames <= 0) throw new ClipflowError("TooShort", "the video has no frames");
    return {
      id: video.id,
      uri: video.uri,
      ok: true,
      frames: info.frames,
      fps: Math.round(info.fps * 1000) / 1000,
      width: info.width,
      height: info.height,
      duration_s: Math.round(info.durationS * 1000) / 1000,
      codec: info.codec,
    };
  } catch (error) {
    const typed = toClipflowError(error, { uri: video.uri });
    return { id: video.id, uri: video.uri, ok: false, error: typed.tag, message: typed.message };
  }
}
