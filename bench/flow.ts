/**
 * Optical-flow benchmark (issue 4), every figure measured in this run on the same pairs: a smooth random texture
 * translated (2.3, −1.4) px, rotated 3° about the centre and zoomed 6 %, at 112×112 and 224×224, with known
 * ground-truth flow. Our TV-L1 and Farnebäck (fast) against OpenCV's TV-L1, Farnebäck and DIS (Debian's
 * python3-opencv, one thread). Reports end-point error (mean over the frame minus an 8 px border) and median ms per
 * pair, and the ratios the goals are stated in: our TV-L1's EPE within 10 % of OpenCV's, its time within 3× of
 * OpenCV single-threaded; the fast method under 10 ms per pair at 112×112 (pairwise, and per pair along a clip, where
 * each frame's polynomial expansion is computed once).
 * Run: npm run bench:flow
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gaussianKernel1d } from "../src/kernels/colour.ts";
import { farnebackFlow } from "../src/kernels/farneback.ts";
import { opticalFlow } from "../src/kernels/flow.ts";
import { separableFilter, type Plane } from "../src/kernels/flowImage.ts";
import { tvl1Flow, type Flow } from "../src/kernels/tvl1.ts";

type Motion = (x: number, y: number, c: number) => [number, number];
/** Each motion maps an I1 pixel to where its content was in I0 (so I1(x) = I0(m(x))); flow is m⁻¹(x) − x. */
const motions: Record<string, { back: Motion; flow: Motion }> = {
  translate: { back: (x, y) => [x - 2.3, y + 1.4], flow: () => [2.3, -1.4] },
  rotate: {
    back: (x, y, c) => [c + Math.cos(0.052) * (x - c) + Math.sin(0.052) * (y - c), c - Math.sin(0.052) * (x - c) + Math.cos(0.052) * (y - c)],
    flow: (x, y, c) => [c + Math.cos(0.052) * (x - c) - Math.sin(0.052) * (y - c) - x, c + Math.sin(0.052) * (x - c) + Math.cos(0.052) * (y - c) - y],
  },
  zoom: { back: (x, y, c) => [c + (x - c) / 1.06, c + (y - c) / 1.06], flow: (x, y, c) => [c + 1.06 * (x - c) - x, c + 1.06 * (y - c) - y] },
};

function texture(size: number, seed: number): Plane {
  let s = seed;
  const data = Float32Array.from({ length: size * size }, () => ((s = (s * 16807) % 2147483647), (s / 2147483647) * 255));
  const smooth = separableFilter({ data, width: size, height: size }, gaussianKernel1d(9, 2));
  let lo = Infinity;
  let hi = -Infinity;
  smooth.data.forEach((v) => ((lo = Math.min(lo, v)), (hi = Math.max(hi, v))));
  smooth.data.forEach((v, i) => (smooth.data[i] = ((v - lo) / (hi - lo)) * 255));
  return smooth;
}

function render(tex: Plane, size: number, back: Motion): Uint8Array {
  const off = (tex.width - size) / 2;
  const out = new Uint8Array(size * size);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      const [sx, sy] = back(x + off, y + off, tex.width / 2);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const at = (xx: number, yy: number) => tex.data[yy * tex.width + xx]!;
      out[y * size + x] = Math.round((at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy);
    }
  }
  return out;
}

function epe(flow: { u: Float32Array; v: Float32Array }, size: number, truth: Motion): number {
  let sum = 0;
  let n = 0;
  for (let y = 8; y < size - 8; y += 1) {
    for (let x = 8; x < size - 8; x += 1) {
      const [u, v] = truth(x, y, (size - 1) / 2 + 0.5);
      sum += Math.hypot(flow.u[y * size + x]! - u, flow.v[y * size + x]! - v);
      n += 1;
    }
  }
  return sum / n;
}

function median(fn: () => unknown, reps: number): number {
  const times: number[] = [];
  for (let k = 0; k < reps; k += 1) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

const dir = mkdtempSync(join(tmpdir(), "clipflow-bench-flow-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const pairs: { name: string; width: number; height: number; size: number; motion: string; i0: Uint8Array; i1: Uint8Array }[] = [];
for (const size of [112, 224]) {
  const tex = texture(size + 64, 7 + size);
  for (const [motion, m] of Object.entries(motions)) {
    const name = `${motion}-${size}`;
    const i0 = render(tex, size, (x, y) => [x, y]);
    const i1 = render(tex, size, m.back);
    writeFileSync(join(dir, `${name}.i0`), i0);
    writeFileSync(join(dir, `${name}.i1`), i1);
    pairs.push({ name, width: size, height: size, size, motion, i0, i1 });
  }
}
writeFileSync(join(dir, "pairs.json"), JSON.stringify(pairs.map(({ name, width, height }) => ({ name, width, height }))));
const peer = spawnSync("/usr/bin/python3", [join(import.meta.dirname, "peers", "opencv_flow.py"), dir], { encoding: "utf8" });
const opencv = peer.status === 0 ? (JSON.parse(peer.stdout) as Record<string, number>) : undefined;
if (opencv === undefined) console.log(`OpenCV peer unavailable (python3-opencv): ${peer.stderr.trim().split("\n").pop()}`);
const readPeer = (name: string, method: string, size: number): Flow => {
  const data = new Float32Array(readFileSync(join(dir, `${name}.${method}`)).buffer.slice(0));
  return { u: data.subarray(0, size * size), v: data.subarray(size * size), width: size, height: size };
};

console.log("pair            method              EPE px   ms/pair   vs OpenCV TV-L1 (EPE, time)");
const summary: Record<string, number[]> = { epeRatio: [], timeRatio: [], fast112: [] };
for (const pair of pairs) {
  const plane = (data: Uint8Array): Plane => ({ data: Float32Array.from(data), width: pair.size, height: pair.size });
  const [a, b] = [plane(pair.i0), plane(pair.i1)];
  const truth = motions[pair.motion]!.flow;
  const ours = tvl1Flow(a, b);
  const tvl1Ms = median(() => tvl1Flow(a, b), 3);
  const fast = farnebackFlow(a, b);
  const fastMs = median(() => farnebackFlow(a, b), 15);
  const rows: [string, number, number][] = [
    ["clipflow tvl1", epe(ours, pair.size, truth), tvl1Ms],
    ["clipflow fast", epe(fast, pair.size, truth), fastMs],
  ];
  if (opencv !== undefined) for (const method of ["tvl1", "farneback", "dis"]) rows.push([`opencv ${method}`, epe(readPeer(pair.name, method, pair.size), pair.size, truth), opencv[`${pair.name}/${method}`]!]);
  const cv = rows.find((r) => r[0] === "opencv tvl1");
  for (const [label, e, ms] of rows) {
    const ratio = cv === undefined ? "" : `${(e / cv[1]).toFixed(2)}× EPE, ${(ms / cv[2]).toFixed(2)}× time`;
    console.log(`${pair.name.padEnd(15)} ${label.padEnd(18)} ${e.toFixed(3).padStart(7)} ${ms.toFixed(1).padStart(9)}   ${ratio}`);
  }
  if (cv !== undefined) {
    summary.epeRatio!.push(rows[0]![1] / cv[1]);
    summary.timeRatio!.push(rows[0]![2] / cv[2]);
  }
  if (pair.size === 112) summary.fast112!.push(fastMs);
}
// the fast method along a 17-frame clip at 112×112: every frame expanded once
const tex = texture(176, 3);
const clip = new Uint8Array(17 * 112 * 112 * 3);
for (let t = 0; t < 17; t += 1) {
  const gray = render(tex, 112, (x, y) => [x - 0.8 * t, y + 0.5 * t]);
  gray.forEach((v, i) => clip.fill(v, (t * 112 * 112 + i) * 3, (t * 112 * 112 + i) * 3 + 3));
}
const clipMs = median(() => opticalFlow({ data: clip, shape: [17, 112, 112, 3], method: "farneback", bound: 20, output: "quantized" }), 5) / 16;
const max = (values: number[]) => Math.max(...values);
console.log("");
if (summary.epeRatio!.length > 0) {
  console.log(`TV-L1 EPE vs OpenCV: worst ${max(summary.epeRatio!).toFixed(3)}× (goal ≤ 1.10×)`);
  console.log(`TV-L1 time vs OpenCV single-threaded: worst ${max(summary.timeRatio!).toFixed(2)}× (goal ≤ 3×)`);
}
console.log(`fast method at 112×112: ${max(summary.fast112!).toFixed(1)} ms per pair pairwise, ${clipMs.toFixed(1)} ms per pair along a clip (goal < 10 ms: ${(max(summary.fast112!) / 10).toFixed(2)}× the limit)`);
