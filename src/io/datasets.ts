/**
 * Dataset sources: turn DATA (a folder, a split list, a CSV/JSONL manifest, or TSP annotations) into VideoRefs.
 * - folder: one subfolder per class (labels from classInd.txt when present, else sorted folder names), or flat;
 * - UCF101 split list (trainlist0N.txt "Class/v_x.avi 1", testlist0N.txt "Class/v_x.avi", with classInd.txt beside);
 * - HMDB51 split file (<class>_test_splitN.txt: "file.avi 1|2|0" = train|test|unused; pass --split);
 * - manifest: CSV with a header or JSONL; a path column (path | uri | file | video), optional label (index or class
 *   name) and split; every other column is kept in meta;
 * - TSP annotations: CSV with video-name, t-start, t-end, action-label, region (+ subset), and metadata.csv beside it
 *   (filename, video-duration, fps, video-frames): one VideoRef per video with its segments.
 * Paths resolve against the list's folder. Entries are listed by name, not checked: a missing or broken file becomes a
 * typed decode error for that sample (dead-lettered), never a silent gap. A malformed row is a BadAnnotation error
 * naming the file and line.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join, resolve } from "node:path";
import { parse } from "csv-parse/sync";
import { ClipflowError } from "../core/errors.ts";
import { isUrl } from "./uri.ts";
import type { Segment, VideoRef } from "../core/types.ts";

export const videoExtensions = new Set([".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".ts"]);

export interface DatasetOptions {
  /** For HMDB51 split files and manifests with a split column: keep only this split. */
  split?: "train" | "test" | undefined;
}

export interface Dataset {
  kind: "folder" | "ucf101-split" | "hmdb51-split" | "manifest" | "annotations";
  videos: VideoRef[];
  classes: string[];
}

const isVideoName = (name: string) => videoExtensions.has(extname(name).toLowerCase());
const videoId = (path: string) => basename(path, extname(path));

function readClassInd(dir: string): string[] | undefined {
  const path = join(dir, "classInd.txt");
  if (!existsSync(path)) return undefined;
  const classes: string[] = [];
  readFileSync(path, "utf8").split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    const match = /^\s*(\d+)\s+(\S+)\s*$/.exec(line);
    if (!match) throw new ClipflowError("BadAnnotation", `line ${i + 1}: expected "<index> <class>", got "${line}"`, { uri: path });
    classes[Number(match[1]) - 1] = match[2] as string;
  });
  return classes;
}

/** A folder of videos: class subfolders (labelled) or flat (unlabelled). */
export function listFolder(dir: string): Dataset {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  const classDirs = entries.filter((entry) => entry.isDirectory() && !isVideoName(entry.name));
  const known = readClassInd(dir);
  if (classDirs.length > 0) {
    const classes = known ?? classDirs.map((entry) => entry.name);
    const videos: VideoRef[] = [];
    for (const entry of classDirs) {
      const label = classes.indexOf(entry.name);
      const files = readdirSync(join(dir, entry.name)).filter(isVideoName).sort();
      for (const file of files) {
        const uri = join(dir, entry.name, file);
        videos.push({ id: videoId(file), uri, ...(label >= 0 ? { label, className: entry.name } : { className: entry.name }) });
      }
    }
    return { kind: "folder", videos, classes };
  }
  const videos = entries.filter((entry) => isVideoName(entry.name)).map((entry) => ({ id: videoId(entry.name), uri: join(dir, entry.name) }));
  return { kind: "folder", videos, classes: known ?? [] };
}

function resolveFrom(base: string, path: string): string {
  return isAbsolute(path) || isUrl(path) ? path : join(base, path);
}

/** UCF101 trainlist/testlist or an HMDB51 test_split file. */
export function readSplitList(path: string, options: DatasetOptions = {}): Dataset {
  const dir = dirname(path);
  const lines = readFileSync(path, "utf8").split(/\r?\n/);
  const hmdb = /^(.+)_test_split(\d+)\.txt$/.exec(basename(path));
  if (hmdb) {
    const className = hmdb[1] as string;
    const keep = options.split === "test" ? "2" : "1";
    const videos: VideoRef[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      const match = /^\s*(\S+)\s+([012])\s*$/.exec(line);
      if (!match) throw new ClipflowError("BadAnnotation", `line ${i + 1}: expected "<file> 0|1|2", got "${line}"`, { uri: path });
      if (match[2] !== keep) return;
      const file = match[1] as string;
      videos.push({ id: videoId(file), uri: join(dir, className, file), className, split: keep === "2" ? "test" : "train" });
    });
    return { kind: "hmdb51-split", videos, classes: [className] };
  }
  const classes = readClassInd(dir);
  if (classes === undefined) throw new ClipflowError("BadAnnotation", "a UCF101 split list needs classInd.txt in the same folder", { uri: path });
  const split = /test/i.test(basename(path)) ? "test" : "train";
  const videos: VideoRef[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const match = /^\s*(\S+?)(?:\s+(\d+))?\s*$/.exec(line);
    if (!match) throw new ClipflowError("BadAnnotation", `line ${i + 1}: expected "<Class>/<file> [label]", got "${line}"`, { uri: path });
    const rel = match[1] as string;
    const className = rel.split("/")[0] as string;
    const label = match[2] === undefined ? classes.indexOf(className) : Number(match[2]) - 1;
    if (label < 0 || label >= classes.length) {
      throw new ClipflowError("BadAnnotation", `line ${i + 1}: class of "${rel}" is not in classInd.txt`, { uri: path });
    }
    videos.push({ id: videoId(rel), uri: resolveFrom(dir, rel), label, className: classes[label] as string, split });
  });
  return { kind: "ucf101-split", videos, classes };
}

function readRows(path: string): Record<string, string>[] {
  const text = readFileSync(path, "utf8");
  if (extname(path).toLowerCase() === ".jsonl") {
    return text.split(/\r?\n/).flatMap((line, i) => {
      if (line.trim() === "") return [];
      try {
        const value = JSON.parse(line) as unknown;
        if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
        return [Object.fromEntries(Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]))];
      } catch (error) {
        throw new ClipflowError("BadAnnotation", `line ${i + 1}: ${(error as Error).message}`, { uri: path });
      }
    });
  }
  try {
    return parse(text, { columns: true, skip_empty_lines: true, trim: true }) as Record<string, string>[];
  } catch (error) {
    throw new ClipflowError("BadAnnotation", `cannot parse CSV: ${(error as Error).message}`, { uri: path });
  }
}

/** A CSV/JSONL manifest: path + optional label/split, other columns into meta. */
export function readManifest(path: string, options: DatasetOptions = {}): Dataset {
  const dir = dirname(path);
  const rows = readRows(path);
  const pathKey = ["path", "uri", "file", "video"].find((key) => rows[0] !== undefined && key in rows[0]);
  if (pathKey === undefined) throw new ClipflowError("BadAnnotation", "a manifest needs a path column (path, uri, file or video)", { uri: path, field: "path" });
  const names = [...new Set(rows.map((row) => row.label).filter((label): label is string => label !== undefined && label !== "" && !/^\d+$/.test(label)))].sort();
  const videos: VideoRef[] = [];
  rows.forEach((row, i) => {
    const file = row[pathKey];
    if (file === undefined || file === "") throw new ClipflowError("BadAnnotation", `row ${i + 1}: empty ${pathKey}`, { uri: path, field: pathKey });
    if (options.split !== undefined && row.split !== undefined && row.split !== options.split) return;
    const meta: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) if (![pathKey, "label", "split", "id"].includes(key)) meta[key] = value;
    const raw = row.label;
    const label = raw === undefined || raw === "" ? undefined : /^\d+$/.test(raw) ? Number(raw) : names.indexOf(raw);
    videos.push({
      id: row.id !== undefined && row.id !== "" ? row.id : videoId(file),
      uri: resolveFrom(dir, file),
      ...(label === undefined ? {} : { label }),
      ...(raw !== undefined && !/^\d+$/.test(raw) && raw !== "" ? { className: raw } : {}),
      ...(row.split === undefined ? {} : { split: row.split }),
      meta,
    });
  });
  return { kind: "manifest", videos, classes: names };
}

/** TSP-style temporal annotations with metadata.csv beside them. */
export function readAnnotations(path: string, options: DatasetOptions = {}): Dataset {
  const dir = dirname(path);
  const rows = readRows(path);
  const metadataPath = join(dir, "metadata.csv");
  const metadata = new Map<string, Record<string, string>>();
  if (existsSync(metadataPath)) for (const row of readRows(metadataPath)) if (row.filename) metadata.set(row.filename, row);
  const classes = readClassInd(dir) ?? [...new Set(rows.map((row) => row["action-label"]).filter((l): l is string => !!l))].sort();
  const byVideo = new Map<string, VideoRef>();
  rows.forEach((row, i) => {
    const name = row["video-name"];
    const start = Number(row["t-start"]);
    const end = Number(row["t-end"]);
    const region = row.region ?? (row["action-label"] ? "Action" : "No action");
    if (!name || !Number.isFinite(start) || !Number.isFinite(end) || end <= start || (region !== "Action" && region !== "No action")) {
      throw new ClipflowError("BadAnnotation", `row ${i + 2}: needs video-name, t-start < t-end and region Action|No action`, { uri: path, key: name });
    }
    if (options.split !== undefined && row.subset !== undefined && row.subset !== options.split) return;
    const className = row["action-label"] ?? "";
    const label = region === "Action" ? classes.indexOf(className) : -1;
    if (region === "Action" && label < 0) throw new ClipflowError("BadAnnotation", `row ${i + 2}: unknown action "${className}"`, { uri: path, key: name });
    const segment: Segment = { start, end, label, region, ...(className ? { className } : {}) };
    let video = byVideo.get(name);
    if (video === undefined) {
      const meta = metadata.get(name);
      video = {
        id: videoId(name),
        uri: resolveFrom(dir, name),
        segments: [],
        ...(row.subset === undefined ? {} : { split: row.subset }),
        meta: meta === undefined ? {} : { duration: Number(meta["video-duration"]), fps: Number(meta.fps), frames: Number(meta["video-frames"]) },
      };
      byVideo.set(name, video);
    }
    video.segments?.push(segment);
  });
  return { kind: "annotations", videos: [...byVideo.values()], classes };
}

/** Opens DATA by its kind: folder, split list (.txt), annotations (CSV with t-start), manifest (CSV/JSONL). */
export function openDataset(data: string, options: DatasetOptions = {}): Dataset {
  const path = resolve(data);
  if (!existsSync(path)) throw new ClipflowError("MissingFile", "no such dataset", { uri: data });
  if (statSync(path).isDirectory()) return listFolder(path);
  const ext = extname(path).toLowerCase();
  if (ext === ".txt") return readSplitList(path, options);
  if (ext === ".jsonl") return readManifest(path, options);
  if (ext === ".csv") {
    const header = readFileSync(path, "utf8").split(/\r?\n/, 1)[0] ?? "";
    return /\bt-start\b/.test(header) ? readAnnotations(path, options) : readManifest(path, options);
  }
  throw new ClipflowError("ConfigError", `cannot tell what kind of dataset ${data} is (folder, .txt split list, .csv or .jsonl)`, { uri: data, field: "--data" });
}
