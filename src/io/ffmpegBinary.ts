/**
 * Finds the ffmpeg binary: FFMPEG_PATH, then ffmpeg-static (optional: its install downloads a binary and fails
 * offline), then @ffmpeg-installer/ffmpeg (a binary shipped inside the npm package), then `ffmpeg` on the PATH.
 * npm may skip the installer's postinstall chmod (npm 11 asks before running dependencies' scripts), so a found binary
 * that is not executable for this user is copied into a cache folder and made executable there.
 */
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { ClipflowError } from "../core/errors.ts";

export interface FfmpegBinary {
  path: string;
  /** Which rule found it. */
  source: "FFMPEG_PATH" | "ffmpeg-static" | "@ffmpeg-installer/ffmpeg" | "PATH";
}

const require = createRequire(import.meta.url);
let cached: FfmpegBinary | undefined;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Returns an executable copy of `path` (the file itself when it already is executable). */
export function ensureExecutable(path: string, cacheDir = join(tmpdir(), `clipflow-bin-${process.getuid?.() ?? "user"}`)): string {
  if (isExecutable(path)) return path;
  try {
    chmodSync(path, 0o755);
    if (isExecutable(path)) return path;
  } catch {
    // not ours to change: copy it
  }
  mkdirSync(cacheDir, { recursive: true });
  const size = statSync(path).size;
  const copy = join(cacheDir, `ffmpeg-${size}`);
  if (!existsSync(copy) || statSync(copy).size !== size) {
    const partial = `${copy}.${process.pid}.tmp`;
    copyFileSync(path, partial);
    chmodSync(partial, 0o755);
    copyFileSync(partial, copy);
    chmodSync(copy, 0o755);
  }
  return copy;
}

function fromPackage(name: "ffmpeg-static" | "@ffmpeg-installer/ffmpeg"): string | undefined {
  try {
    const loaded = require(name) as string | { path?: string } | null;
    const path = typeof loaded === "string" ? loaded : loaded?.path;
    return path !== undefined && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

function fromPath(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, "ffmpeg");
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** The ffmpeg to use (cached after the first call). Throws a ConfigError naming what was tried. */
export function ffmpegBinary(): FfmpegBinary {
  if (cached) return cached;
  const env = process.env.FFMPEG_PATH;
  if (env !== undefined && env !== "") {
    if (!existsSync(env)) throw new ClipflowError("ConfigError", `FFMPEG_PATH points to ${env}, which does not exist`, { field: "FFMPEG_PATH" });
    cached = { path: ensureExecutable(env), source: "FFMPEG_PATH" };
    return cached;
  }
  for (const name of ["ffmpeg-static", "@ffmpeg-installer/ffmpeg"] as const) {
    const path = fromPackage(name);
    if (path !== undefined) {
      cached = { path: ensureExecutable(path), source: name };
      return cached;
    }
  }
  const onPath = fromPath();
  if (onPath !== undefined) {
    cached = { path: onPath, source: "PATH" };
    return cached;
  }
  throw new ClipflowError(
    "ConfigError",
    "no ffmpeg found: set FFMPEG_PATH, or install ffmpeg-static or @ffmpeg-installer/ffmpeg, or put ffmpeg on the PATH",
  );
}

/** Forgets the cached choice (tests). */
export function resetFfmpegBinary(): void {
  cached = undefined;
}
