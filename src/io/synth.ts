/**
 * Synthetic video datasets with known structure, encoded as real H.264 files: the embedded default data of the demo
 * and the tests.
 * - "actions": one folder per motion class (slide, rise, spin, zoom, orbit, shake) of a textured object over a
 *   textured, sometimes drifting background, with random size, colour, speed and start; UCF101-style names
 *   (v_<Class>_gXX_cYY.mp4: clips of a group share their appearance, and group XX looks the same in every class, so
 *   that only the motion tells the classes apart) and split lists (classInd.txt, trainlist01.txt,
 *   testlist01.txt; the first third of the groups are test, like UCF101's split 1).
 * - "untrimmed": longer videos in which action segments (the object moving by its class) alternate with static
 *   stretches (object still, or background only), plus TSP-style annotations (one row per segment, "Action" or
 *   "No action") and metadata CSVs.
 * Every draw comes from the seeded rng: the same seed gives the same files.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { rngFromString, type Rng } from "../core/rng.ts";
import { encodeFrames } from "./encode.ts";

export const motionClasses = ["Slide", "Rise", "Spin", "Zoom", "Orbit", "Shake"] as const;
export type MotionClass = (typeof motionClasses)[number];

export interface SynthOptions {
  out: string;
  kind: "actions" | "untrimmed";
  /** Videos in all (actions: spread over the classes; untrimmed: each with 1–2 action segments). */
  videos: number;
  seed: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Seconds per video (actions default 3, untrimmed default 10). */
  seconds?: number;
  /** Classes to use (default: all six). */
  classes?: number;
  /** Clips per group (UCF101-style siblings). */
  clipsPerGroup?: number;
  signal?: AbortSignal;
  onVideo?: (path: string, index: number, total: number) => void;
}

interface Appearance {
  background: [number, number, number];
  backgroundAlt: [number, number, number];
  backgroundScale: number;
  drift: number;
  colour: [number, number, number];
  colourAlt: [number, number, number];
  shape: "square" | "disk" | "diamond";
  stripes: number;
}

export interface Motion {
  cls: MotionClass;
  size: number;
  speed: number;
  phase: number;
  cx: number;
  cy: number;
  direction: 1 | -1;
}

const colour = (rng: Rng): [number, number, number] => [rng.int(20, 235), rng.int(20, 235), rng.int(20, 235)];

function drawAppearance(rng: Rng): Appearance {
  return {
    background: colour(rng),
    backgroundAlt: colour(rng),
    backgroundScale: rng.uniform(6, 18),
    drift: rng.bernoulli(0.5) ? rng.uniform(-0.6, 0.6) : 0,
    colour: colour(rng),
    colourAlt: colour(rng),
    shape: rng.pick(["square", "disk", "diamond"] as const),
    stripes: rng.int(2, 5),
  };
}

export function drawMotion(rng: Rng, cls: MotionClass): Motion {
  return {
    cls,
    size: rng.uniform(0.12, 0.22),
    speed: rng.uniform(0.8, 1.25),
    phase: rng.uniform(0, 2 * Math.PI),
    cx: rng.uniform(0.35, 0.65),
    cy: rng.uniform(0.35, 0.65),
    direction: rng.bernoulli(0.5) ? 1 : -1,
  };
}

/** Triangle wave in [-1, 1] with slope ±2/π (a sine's range, constant speed between the turning points). */
const triangle = (u: number): number => (2 / Math.PI) * Math.asin(Math.sin(u));

/**
 * Object pose at time t (seconds): centre (fractions of the frame), scale factor, rotation angle. Every class moves
 * the object's edge at the same speed, EDGE_SPEED frame widths per second times the video's speed (0.8–1.25): spin and
 * zoom rates are divided by the object's size, and every back-and-forth motion is a triangle wave (constant speed
 * between turning points). Pixel speed then tells a clip's playback rate (PRP's pretext) whatever the class and size:
 * 2× apart for neighbouring rates, against 1.56× between the slowest and fastest video. (When spin and zoom turned at
 * fixed rates, the edge speed spread 4.4× across videos, rates 1, 2 and 4 overlapped, and no network learnt them.)
 */
export const EDGE_SPEED = 0.45;

export function pose(motion: Motion, t: number, moving: boolean): { x: number; y: number; scale: number; angle: number } {
  const { cls, speed, phase, cx, cy, direction, size } = motion;
  const travel = moving ? t * speed * EDGE_SPEED : 0; // frame widths the edge has moved
  // a triangle wave of amplitude A moves at (2/π)·A per radian: this many radians cover `travel` at amplitude A
  const wave = (amplitude: number) => (travel * Math.PI) / (2 * amplitude);
  switch (cls) {
    case "Slide":
      return { x: 0.5 + 0.3 * triangle(phase + direction * wave(0.3)), y: cy, scale: 1, angle: 0 };
    case "Rise":
      return { x: cx, y: 0.5 + 0.3 * triangle(phase + direction * wave(0.3)), scale: 1, angle: 0 };
    case "Spin":
      return { x: cx, y: cy, scale: 1, angle: phase + (direction * travel) / size };
    case "Zoom":
      // the edge sits at size·scale: the scale swings by ±0.6 at (2/π)·0.6 per radian
      return { x: cx, y: cy, scale: 1.2 + 0.6 * triangle(phase + wave(0.6 * size)), angle: 0 };
    case "Orbit":
      return { x: 0.5 + 0.25 * Math.cos(phase + (direction * travel) / 0.25), y: 0.5 + 0.25 * Math.sin(phase + (direction * travel) / 0.25), scale: 1, angle: 0 };
    case "Shake":
      return { x: cx + 0.08 * triangle(phase + wave(0.08)), y: cy, scale: 1, angle: 0 };
  }
}

/** Renders one RGB24 frame. */
export function renderFrame(
  width: number,
  height: number,
  look: Appearance,
  motion: Motion | undefined,
  t: number,
  moving: boolean,
): Uint8Array {
  const frame = new Uint8Array(width * height * 3);
  const shift = look.drift * t * width * 0.1;
  const p = motion ? pose(motion, t, moving) : undefined;
  const radius = motion && p ? motion.size * Math.min(width, height) * p.scale : 0;
  const cos = p ? Math.cos(-p.angle) : 1;
  const sin = p ? Math.sin(-p.angle) : 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      let rgb = look.background;
      const bx = (x + shift) / look.backgroundScale;
      const by = y / look.backgroundScale;
      if ((Math.floor(bx) + Math.floor(by)) % 2 === 0 || Math.sin(bx * 1.7 + by * 0.9) > 0.6) rgb = look.backgroundAlt;
      if (p && motion) {
        const dx = x - p.x * width;
        const dy = y - p.y * height;
        const u = (dx * cos - dy * sin) / radius;
        const v = (dx * sin + dy * cos) / radius;
        const inside =
          look.shape === "square" ? Math.abs(u) < 1 && Math.abs(v) < 1 : look.shape === "disk" ? u * u + v * v < 1 : Math.abs(u) + Math.abs(v) < 1.2;
        if (inside) rgb = Math.floor((u + 1) * look.stripes) % 2 === 0 ? look.colour : look.colourAlt;
      }
      frame[i] = rgb[0];
      frame[i + 1] = rgb[1];
      frame[i + 2] = rgb[2];
    }
  }
  return frame;
}

export interface SynthResult {
  files: string[];
  classes: string[];
}

/** Writes the dataset into `out` and returns the video paths (relative to `out`). */
export async function synthesize(options: SynthOptions): Promise<SynthResult> {
  const width = options.width ?? 128;
  const height = options.height ?? 128;
  const fps = options.fps ?? 30;
  const classes = motionClasses.slice(0, Math.max(2, Math.min(motionClasses.length, options.classes ?? motionClasses.length)));
  mkdirSync(options.out, { recursive: true });
  return options.kind === "actions"
    ? synthActions(options, classes, width, height, fps)
    : synthUntrimmed(options, classes, width, height, fps);
}

async function synthActions(options: SynthOptions, classes: MotionClass[], width: number, height: number, fps: number): Promise<SynthResult> {
  const seconds = options.seconds ?? 3;
  const perGroup = options.clipsPerGroup ?? 2;
  const frames = Math.round(seconds * fps);
  const files: string[] = [];
  const train: string[] = [];
  const test: string[] = [];
  const perClass = Math.max(1, Math.round(options.videos / classes.length));
  const groups = Math.max(1, Math.ceil(perClass / perGroup));
  const testGroups = groups > 1 ? Math.max(1, Math.round(groups / 3)) : 0;
  let index = 0;
  for (const [c, cls] of classes.entries()) {
    mkdirSync(join(options.out, cls), { recursive: true });
    for (let n = 0; n < perClass; n++) {
      const group = Math.floor(n / perGroup) + 1;
      const clip = (n % perGroup) + 1;
      const name = `v_${cls}_g${String(group).padStart(2, "0")}_c${String(clip).padStart(2, "0")}.mp4`;
      const rel = `${cls}/${name}`;
      // Group g has the same appearance in every class: appearance carries no label, only the motion does (with a
      // look per class and group, a network could tell the training classes apart by colour and learn no motion).
      const look = drawAppearance(rngFromString(`${options.seed}:look:${group}`));
      const motion = drawMotion(rngFromString(`${options.seed}:motion:${cls}:${n}`), cls);
      await encodeFrames(
        join(options.out, rel),
        (function* () {
          for (let f = 0; f < frames; f++) yield renderFrame(width, height, look, motion, f / fps, true);
        })(),
        { width, height, fps, ...(options.signal ? { signal: options.signal } : {}) },
      );
      files.push(rel);
      (group <= testGroups ? test : train).push(group <= testGroups ? rel : `${rel} ${c + 1}`);
      options.onVideo?.(rel, index++, perClass * classes.length);
    }
  }
  writeFileSync(join(options.out, "classInd.txt"), classes.map((cls, i) => `${i + 1} ${cls}`).join("\n") + "\n");
  writeFileSync(join(options.out, "trainlist01.txt"), train.join("\n") + "\n");
  writeFileSync(join(options.out, "testlist01.txt"), test.join("\n") + "\n");
  return { files, classes };
}

async function synthUntrimmed(options: SynthOptions, classes: MotionClass[], width: number, height: number, fps: number): Promise<SynthResult> {
  const seconds = options.seconds ?? 10;
  const frames = Math.round(seconds * fps);
  const files: string[] = [];
  const annotations = ["video-name,t-start,t-end,action-label,region,subset"];
  const metadata = ["filename,video-duration,fps,video-frames"];
  for (let v = 0; v < options.videos; v++) {
    const rng = rngFromString(`${options.seed}:untrimmed:${v}`);
    const cls = classes[v % classes.length] as MotionClass;
    const look = drawAppearance(rng.fork("look"));
    const motion = drawMotion(rng.fork("motion"), cls);
    // 1–2 action segments of 2–4 s, separated and surrounded by static stretches of at least 1 s
    const segments: [number, number][] = [];
    let cursor = rng.uniform(1, 2);
    const count = rng.int(1, 2);
    for (let s = 0; s < count && cursor + 2 < seconds - 1; s++) {
      const length = Math.min(rng.uniform(2, 4), seconds - 1 - cursor);
      segments.push([round3(cursor), round3(cursor + length)]);
      cursor += length + rng.uniform(1, 2);
    }
    const objectInGaps = rng.bernoulli(0.5);
    const name = `video_${String(v).padStart(4, "0")}.mp4`;
    const subset = v % 4 === 3 ? "test" : "train";
    await encodeFrames(
      join(options.out, name),
      (function* () {
        for (let f = 0; f < frames; f++) {
          const t = f / fps;
          const moving = segments.some(([a, b]) => t >= a && t < b);
          yield renderFrame(width, height, look, moving || objectInGaps ? motion : undefined, t, moving);
        }
      })(),
      { width, height, fps, ...(options.signal ? { signal: options.signal } : {}) },
    );
    let previous = 0;
    for (const [a, b] of segments) {
      if (a > previous) annotations.push(`${name},${round3(previous)},${a},,No action,${subset}`);
      annotations.push(`${name},${a},${b},${cls},Action,${subset}`);
      previous = b;
    }
    if (previous < seconds) annotations.push(`${name},${round3(previous)},${seconds},,No action,${subset}`);
    metadata.push(`${name},${seconds},${fps},${frames}`);
    files.push(name);
    options.onVideo?.(name, v, options.videos);
  }
  writeFileSync(join(options.out, "annotations.csv"), annotations.join("\n") + "\n");
  writeFileSync(join(options.out, "metadata.csv"), metadata.join("\n") + "\n");
  writeFileSync(join(options.out, "classInd.txt"), classes.map((cls, i) => `${i + 1} ${cls}`).join("\n") + "\n");
  return { files, classes };
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
