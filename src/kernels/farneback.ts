/**
 * The fast online flow method: Farnebäck's polynomial-expansion flow (Farnebäck, "Two-frame motion estimation based on
 * polynomial expansion", SCIA 2003), for experiments where precomputed TV-L1 is too slow (METHODS.md §3). Each
 * pixel's neighbourhood is fitted with f(x) ≈ xᵀAx + bᵀx + c by Gaussian-weighted least squares (separable
 * correlations and a 6×6 normal-equation inverse computed once); a displacement d satisfies A·d = ½(b₀ − b₁(x + d̃)) +
 * A·d̃ with A the mean of both frames' A, solved in the least-squares sense over a box window, iterated from the
 * coarsest level of an image pyramid down, each level starting from the previous one's upsampled flow. Parameters
 * and their defaults follow OpenCV's common call calcOpticalFlowFarneback(0.5, 3, 15, 3, 5, 1.2); border weighting and
 * the Gaussian-window variant are left out. Flow maps I0 to I1: I1(x + d) ≈ I0(x).
 */
import { gaussianKernel1d } from "./colour.ts";
import { boxSum, resizeLinear, separableFilter, zoomFlow, type Plane } from "./flowImage.ts";
import type { Flow } from "./tvl1.ts";

export interface FarnebackParams {
  pyramidScale: number;
  levels: number;
  windowSize: number;
  iterations: number;
  polyN: number;
  polySigma: number;
}

export const farnebackDefaults: FarnebackParams = { pyramidScale: 0.5, levels: 3, windowSize: 15, iterations: 3, polyN: 5, polySigma: 1.2 };

/** Inverse of a small dense symmetric positive-definite matrix (Gauss–Jordan; used once per parameter set). */
function invert(m: number[][]): number[][] {
  const n = m.length;
  const a = m.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c += 1) {
    const pivot = a[c]![c]!;
    for (let j = 0; j < 2 * n; j += 1) a[c]![j]! /= pivot;
    for (let r = 0; r < n; r += 1) {
      if (r === c) continue;
      const f = a[r]![c]!;
      for (let j = 0; j < 2 * n; j += 1) a[r]![j]! -= f * a[c]![j]!;
    }
  }
  return a.map((row) => row.slice(n));
}

/** Per-pixel expansion coefficients [bx, by, axx, ayy, axy] (A = [[axx, axy], [axy, ayy]]), five planes. */
function expand(plane: Plane, n: number, sigma: number): Float32Array[] {
  const r = Math.floor(n / 2);
  const taps = Array.from({ length: 2 * r + 1 }, (_, i) => i - r);
  const g = gaussianKernel1d(2 * r + 1, sigma);
  const xg = g.map((w, i) => w * taps[i]!);
  const xxg = g.map((w, i) => w * taps[i]! * taps[i]!);
  // Gram matrix of the basis {1, x, y, x², y², xy} under w(x, y) = g(x)·g(y)
  const basis = (x: number, y: number) => [1, x, y, x * x, y * y, x * y];
  const gram = Array.from({ length: 6 }, () => new Array<number>(6).fill(0));
  for (const y of taps) {
    for (const x of taps) {
      const w = g[x + r]! * g[y + r]!;
      const b = basis(x, y);
      for (let i = 0; i < 6; i += 1) for (let j = 0; j < 6; j += 1) gram[i]![j]! += w * b[i]! * b[j]!;
    }
  }
  const inv = invert(gram);
  const { width, height, data } = plane;
  const size = width * height;
  // vertical passes (g, y·g, y²·g) over rows clamped at the edges, then horizontal passes over a padded row
  const cg = new Float32Array(size);
  const cy = new Float32Array(size);
  const cyy = new Float32Array(size);
  for (let y = 0; y < height; y += 1) {
    const rows = taps.map((t) => Math.min(height - 1, Math.max(0, y + t)) * width);
    for (let x = 0; x < width; x += 1) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let k = 0; k < taps.length; k += 1) {
        const value = data[rows[k]! + x]!;
        s0 += g[k]! * value;
        s1 += xg[k]! * value;
        s2 += xxg[k]! * value;
      }
      cg[y * width + x] = s0;
      cy[y * width + x] = s1;
      cyy[y * width + x] = s2;
    }
  }
  const moments = [0, 1, 2, 3, 4, 5].map(() => new Float32Array(size));
  const [m1, mx, my, mxx, myy, mxy] = moments as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const padded = new Float32Array((width + 2 * r) * 3);
  const pw = width + 2 * r;
  for (let y = 0; y < height; y += 1) {
    const base = y * width;
    for (let x = -r; x < width + r; x += 1) {
      const src = base + Math.min(width - 1, Math.max(0, x));
      padded[x + r] = cg[src]!;
      padded[pw + x + r] = cy[src]!;
      padded[2 * pw + x + r] = cyy[src]!;
    }
    for (let x = 0; x < width; x += 1) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let b0 = 0;
      let b1 = 0;
      let c0 = 0;
      for (let k = 0; k < taps.length; k += 1) {
        const vg = padded[x + k]!;
        const vy = padded[pw + x + k]!;
        a0 += g[k]! * vg;
        a1 += xg[k]! * vg;
        a2 += xxg[k]! * vg;
        b0 += g[k]! * vy;
        b1 += xg[k]! * vy;
        c0 += g[k]! * padded[2 * pw + x + k]!;
      }
      const i = base + x;
      m1[i] = a0;
      mx[i] = a1;
      my[i] = b0;
      mxx[i] = a2;
      myy[i] = c0;
      mxy[i] = b1;
    }
  }
  const coefficient = (k: number) => {
    const out = new Float32Array(size);
    const weights = inv[k]!;
    const used = [0, 1, 2, 3, 4, 5].filter((j) => Math.abs(weights[j]!) > 1e-12);
    for (const j of used) {
      const w = weights[j]!;
      const m = moments[j]!;
      for (let i = 0; i < size; i += 1) out[i] = out[i]! + w * m[i]!;
    }
    return out;
  };
  const xy = coefficient(5);
  return [coefficient(1), coefficient(2), coefficient(3), coefficient(4), xy.map((v) => v / 2)];
}

function refine(R0: Float32Array[], R1: Float32Array[], width: number, height: number, u: Float32Array, v: Float32Array, p: FarnebackParams): void {
  const size = width * height;
  const m = [0, 1, 2, 3, 4].map(() => new Float32Array(size));
  const [g11, g12, g22, h1, h2] = m as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const [bx0, by0, axx0, ayy0, axy0] = R0 as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const [bx1, by1, axx1, ayy1, axy1] = R1 as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  for (let it = 0; it < p.iterations; it += 1) {
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const i = y * width + x;
        const du = u[i]!;
        const dv = v[i]!;
        const sx = Math.min(width - 1, Math.max(0, x + du));
        const sy = Math.min(height - 1, Math.max(0, y + dv));
        const x0 = Math.min(width - 2, Math.floor(sx));
        const y0 = Math.min(height - 2, Math.floor(sy));
        const fx = sx - x0;
        const fy = sy - y0;
        const w00 = (1 - fx) * (1 - fy);
        const w01 = fx * (1 - fy);
        const w10 = (1 - fx) * fy;
        const w11 = fx * fy;
        const j = y0 * width + x0;
        const k = j + width;
        const a11 = (axx0[i]! + axx1[j]! * w00 + axx1[j + 1]! * w01 + axx1[k]! * w10 + axx1[k + 1]! * w11) / 2;
        const a22 = (ayy0[i]! + ayy1[j]! * w00 + ayy1[j + 1]! * w01 + ayy1[k]! * w10 + ayy1[k + 1]! * w11) / 2;
        const a12 = (axy0[i]! + axy1[j]! * w00 + axy1[j + 1]! * w01 + axy1[k]! * w10 + axy1[k + 1]! * w11) / 2;
        const db1 = (bx0[i]! - (bx1[j]! * w00 + bx1[j + 1]! * w01 + bx1[k]! * w10 + bx1[k + 1]! * w11)) / 2 + a11 * du + a12 * dv;
        const db2 = (by0[i]! - (by1[j]! * w00 + by1[j + 1]! * w01 + by1[k]! * w10 + by1[k + 1]! * w11)) / 2 + a12 * du + a22 * dv;
        g11[i] = a11 * a11 + a12 * a12;
        g12[i] = a11 * a12 + a12 * a22;
        g22[i] = a12 * a12 + a22 * a22;
        h1[i] = a11 * db1 + a12 * db2;
        h2[i] = a12 * db1 + a22 * db2;
      }
    }
    boxSum(m, width, height, Math.floor(p.windowSize / 2));
    for (let i = 0; i < size; i += 1) {
      const a = g11[i]!;
      const b = g12[i]!;
      const c = g22[i]!;
      const det = a * c - b * b;
      if (det < 1e-9) continue;
      u[i] = (c * h1[i]! - b * h2[i]!) / det;
      v[i] = (a * h2[i]! - b * h1[i]!) / det;
    }
  }
}

/** One frame's pyramid of polynomial expansions, finest level first; computed once per frame of a sequence. */
export interface Expansion {
  levels: { width: number; height: number; coefficients: Float32Array[] }[];
}

/**
 * The pyramid is built level by level: level k is level k−1 smoothed so that its total blur is OpenCV's
 * σ_k = (1/scale_k − 1)/2 (in full-resolution pixels), then resized.
 */
export function expandFrame(frame: Plane, params?: Partial<FarnebackParams>): Expansion {
  const p = { ...farnebackDefaults, ...params };
  const levels: Expansion["levels"] = [];
  let plane = frame;
  let blur = 0;
  for (let level = 0; level < p.levels; level += 1) {
    const scale = p.pyramidScale ** level;
    const width = Math.round(frame.width * scale);
    const height = Math.round(frame.height * scale);
    if (width < 2 * p.polyN || height < 2 * p.polyN) break;
    if (level > 0) {
      const target = (1 / scale - 1) * 0.5;
      const sigma = Math.sqrt(target * target - blur * blur) * (plane.width / frame.width);
      const length = Math.max(3, Math.round(sigma * 5) | 1);
      plane = resizeLinear(separableFilter(plane, gaussianKernel1d(length, sigma)), { width, height });
      blur = target;
    }
    levels.push({ width, height, coefficients: expand(plane, p.polyN, p.polySigma) });
  }
  return { levels };
}

/** Farnebäck flow between two expanded frames (same size and parameters). */
export function farnebackBetween(e0: Expansion, e1: Expansion, params?: Partial<FarnebackParams>): Flow {
  const p = { ...farnebackDefaults, ...params };
  let u: Float32Array = new Float32Array(0);
  let v: Float32Array = new Float32Array(0);
  let previous: { width: number; height: number } | undefined;
  for (let level = e0.levels.length - 1; level >= 0; level -= 1) {
    const { width, height, coefficients } = e0.levels[level]!;
    if (previous === undefined) {
      u = new Float32Array(width * height);
      v = new Float32Array(width * height);
    } else {
      [u, v] = zoomFlow(u, v, previous, { width, height }, [width / previous.width, height / previous.height]);
    }
    refine(coefficients, e1.levels[level]!.coefficients, width, height, u, v, p);
    previous = { width, height };
  }
  const finest = e0.levels[0]!;
  return { u, v, width: finest.width, height: finest.height };
}

/** Farnebäck flow from I0 to I1 (grayscale planes of one size, values 0..255). */
export function farnebackFlow(I0: Plane, I1: Plane, params?: Partial<FarnebackParams>): Flow {
  return farnebackBetween(expandFrame(I0, params), expandFrame(I1, params), params);
}
