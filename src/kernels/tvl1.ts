/**
 * TV-L1 optical flow (Zach, Pock, Bischof 2007; Sánchez, Meinhardt-Llopis, Facciolo 2013) as OpenCV's
 * `DualTVL1OpticalFlow` computes it with its default parameters, the flow CoCLR trains on (METHODS.md §3): a pyramid of
 * `scales` levels (factor `scaleStep`, stopping before a side drops under 16 px), at each level `warps` warpings of
 * I1 by the current flow (bicubic), and alternating primal-dual iterations — thresholding step for v, u = v + θ·div p,
 * dual update of p — `innerIterations` at a time inside `outerIterations` rounds that each start with a 5×5 median
 * filter of u, until the squared update summed over the image drops under ε²·area. The flow maps I0 to I1:
 * I1(x + u) ≈ I0(x). Only the `gamma = 0` model (no illumination term, OpenCV's default) is implemented.
 */
import { medianBlur5, remapCubic, resizeLinear, zoomFlow, type Plane } from "./flowImage.ts";

export interface Tvl1Params {
  tau: number;
  lambda: number;
  theta: number;
  scales: number;
  warps: number;
  epsilon: number;
  innerIterations: number;
  outerIterations: number;
  scaleStep: number;
  medianFiltering: number;
}

/** OpenCV's defaults (cv::optflow::DualTVL1OpticalFlow::create()). */
export const tvl1Defaults: Tvl1Params = {
  tau: 0.25,
  lambda: 0.15,
  theta: 0.3,
  scales: 5,
  warps: 5,
  epsilon: 0.01,
  innerIterations: 30,
  outerIterations: 10,
  scaleStep: 0.8,
  medianFiltering: 5,
};

export interface Flow {
  u: Float32Array;
  v: Float32Array;
  width: number;
  height: number;
}

/** Central differences inside, one-sided half differences on the border rows and columns (OpenCV's centeredGradient). */
function centredGradient(src: Plane, dx: Float32Array, dy: Float32Array): void {
  const { width: w, height: h, data } = src;
  for (let y = 0; y < h; y += 1) {
    const up = y === 0 ? 0 : y - 1;
    const down = y === h - 1 ? h - 1 : y + 1;
    for (let x = 0; x < w; x += 1) {
      const left = x === 0 ? 0 : x - 1;
      const right = x === w - 1 ? w - 1 : x + 1;
      dx[y * w + x] = 0.5 * (data[y * w + right]! - data[y * w + left]!);
      dy[y * w + x] = 0.5 * (data[down * w + x]! - data[up * w + x]!);
    }
  }
}

function oneScale(I0: Plane, I1: Plane, u1: Float32Array, u2: Float32Array, p: Tvl1Params): void {
  const { width: w, height: h } = I0;
  const n = w * h;
  const scaledEpsilon = p.epsilon * p.epsilon * n;
  const I1x = new Float32Array(n);
  const I1y = new Float32Array(n);
  centredGradient(I1, I1x, I1y);
  const I1w = new Float32Array(n);
  const I1wx = new Float32Array(n);
  const I1wy = new Float32Array(n);
  const grad = new Float32Array(n);
  const rho = new Float32Array(n);
  const p11 = new Float32Array(n);
  const p12 = new Float32Array(n);
  const p21 = new Float32Array(n);
  const p22 = new Float32Array(n);
  const lt = p.lambda * p.theta;
  const taut = p.tau / p.theta;
  const theta = p.theta;
  const I0d = I0.data;
  const U1: Plane = { data: u1, width: w, height: h };
  const U2: Plane = { data: u2, width: w, height: h };
  for (let warp = 0; warp < p.warps; warp += 1) {
    remapCubic([I1.data, I1x, I1y], w, h, u1, u2, [I1w, I1wx, I1wy]);
    for (let i = 0; i < n; i += 1) {
      const gx = I1wx[i]!;
      const gy = I1wy[i]!;
      grad[i] = gx * gx + gy * gy;
      rho[i] = I1w[i]! - gx * u1[i]! - gy * u2[i]! - I0d[i]!;
    }
    let error = Number.MAX_VALUE;
    for (let outer = 0; error > scaledEpsilon && outer < p.outerIterations; outer += 1) {
      if (p.medianFiltering > 1) {
        medianBlur5(U1);
        medianBlur5(U2);
      }
      for (let inner = 0; error > scaledEpsilon && inner < p.innerIterations; inner += 1) {
        error = 0;
        // thresholding (v), divergence of p, and u = v + θ·div p, fused per pixel (p is not written in this pass)
        for (let y = 0; y < h; y += 1) {
          for (let x = 0; x < w; x += 1) {
            const i = y * w + x;
            const gx = I1wx[i]!;
            const gy = I1wy[i]!;
            const g = grad[i]!;
            const a1 = u1[i]!;
            const a2 = u2[i]!;
            const r = rho[i]! + gx * a1 + gy * a2;
            let d1 = 0;
            let d2 = 0;
            if (r < -lt * g) {
              d1 = lt * gx;
              d2 = lt * gy;
            } else if (r > lt * g) {
              d1 = -lt * gx;
              d2 = -lt * gy;
            } else if (g > 1.1920929e-7) {
              const fi = -r / g;
              d1 = fi * gx;
              d2 = fi * gy;
            }
            const div1 = (x > 0 ? p11[i]! - p11[i - 1]! : p11[i]!) + (y > 0 ? p12[i]! - p12[i - w]! : p12[i]!);
            const div2 = (x > 0 ? p21[i]! - p21[i - 1]! : p21[i]!) + (y > 0 ? p22[i]! - p22[i - w]! : p22[i]!);
            const n1 = a1 + d1 + theta * div1;
            const n2 = a2 + d2 + theta * div2;
            u1[i] = n1;
            u2[i] = n2;
            const e1 = u1[i]! - a1;
            const e2 = u2[i]! - a2;
            error = Math.fround(error + Math.fround(Math.fround(e1 * e1) + Math.fround(e2 * e2)));
          }
        }
        // forward differences of the new u and the dual update
        for (let y = 0; y < h; y += 1) {
          for (let x = 0; x < w; x += 1) {
            const i = y * w + x;
            const c1 = u1[i]!;
            const c2 = u2[i]!;
            const u1x = x < w - 1 ? u1[i + 1]! - c1 : 0;
            const u1y = y < h - 1 ? u1[i + w]! - c1 : 0;
            const u2x = x < w - 1 ? u2[i + 1]! - c2 : 0;
            const u2y = y < h - 1 ? u2[i + w]! - c2 : 0;
            const ng1 = 1 + taut * Math.sqrt(u1x * u1x + u1y * u1y);
            const ng2 = 1 + taut * Math.sqrt(u2x * u2x + u2y * u2y);
            p11[i] = (p11[i]! + taut * u1x) / ng1;
            p12[i] = (p12[i]! + taut * u1y) / ng1;
            p21[i] = (p21[i]! + taut * u2x) / ng2;
            p22[i] = (p22[i]! + taut * u2y) / ng2;
          }
        }
      }
    }
  }
}

/** TV-L1 flow from I0 to I1 (grayscale planes of one size, values 0..255). */
export function tvl1Flow(I0: Plane, I1: Plane, params?: Partial<Tvl1Params>): Flow {
  const p = { ...tvl1Defaults, ...params };
  const pyramid0: Plane[] = [I0];
  const pyramid1: Plane[] = [I1];
  for (let s = 1; s < p.scales; s += 1) {
    const a = resizeLinear(pyramid0[s - 1]!, { factor: p.scaleStep });
    if (a.width < 16 || a.height < 16) break;
    pyramid0.push(a);
    pyramid1.push(resizeLinear(pyramid1[s - 1]!, { factor: p.scaleStep }));
  }
  let top = pyramid0.length - 1;
  let u1: Float32Array = new Float32Array(pyramid0[top]!.width * pyramid0[top]!.height);
  let u2: Float32Array = new Float32Array(u1.length);
  for (; ; top -= 1) {
    oneScale(pyramid0[top]!, pyramid1[top]!, u1, u2, p);
    if (top === 0) break;
    [u1, u2] = zoomFlow(u1, u2, pyramid0[top]!, pyramid0[top - 1]!, [1 / p.scaleStep, 1 / p.scaleStep]);
  }
  return { u: u1, v: u2, width: I0.width, height: I0.height };
}
