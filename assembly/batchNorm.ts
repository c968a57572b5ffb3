/**
 * Batch normalisation in training mode on a channel-last [rows, C] float32 matrix, one pass per reduction (f32 SIMD
 * partial sums over blocks of 64 rows, carried in f64), for ops.ts batchNormTrain on the wasm backend. Pointers are
 * byte offsets into tfjs's wasm heap; `scratch` is caller-owned space of at least 40·C bytes, 8-byte aligned.
 */

const BLOCK: i32 = 64;

@inline function f32At(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

@inline function f64At(base: usize, i: i32): usize {
  return base + (<usize>i << 3);
}

function clear(p: usize, bytes: i32): void {
  memory.fill(p, 0, <usize>bytes);
}

/** total[c] += acc[c] (f64 ← f32) and acc[c] = 0. */
function carry(acc: usize, total: usize, channels: i32): void {
  for (let c = 0; c < channels; c++) {
    store<f64>(f64At(total, c), load<f64>(f64At(total, c)) + <f64>load<f32>(f32At(acc, c)));
    store<f32>(f32At(acc, c), 0);
  }
}

/** total[c] = Σ_r (x[r, c] − centre[c]), squared when asked (the sums: a centre of zeros). */
function columnMoments(x: usize, rows: i32, channels: i32, centre: usize, squared: bool, acc: usize, total: usize): void {
  clear(acc, channels << 2);
  clear(total, channels << 3);
  const simd = channels & ~3;
  let row = x;
  const stride = <usize>channels << 2;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (; c < simd; c += 4) {
      const a = f32At(acc, c);
      const d = f32x4.sub(v128.load(f32At(row, c)), v128.load(f32At(centre, c)));
      v128.store(a, f32x4.add(v128.load(a), squared ? f32x4.mul(d, d) : d));
    }
    for (; c < channels; c++) {
      const d = load<f32>(f32At(row, c)) - load<f32>(f32At(centre, c));
      store<f32>(f32At(acc, c), load<f32>(f32At(acc, c)) + (squared ? d * d : d));
    }
    if (r % BLOCK == BLOCK - 1) carry(acc, total, channels);
    row += stride;
  }
  carry(acc, total, channels);
}

/** out[r, c] = x[r, c]·scale[c] + shift[c], then max(·, 0) when relu. */
function affine(x: usize, rows: i32, channels: i32, scale: usize, shift: usize, relu: bool, out: usize): void {
  const simd = channels & ~3;
  const stride = <usize>channels << 2;
  const zero = f32x4.splat(0);
  let src = x;
  let dst = out;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (; c < simd; c += 4) {
      let v = f32x4.add(f32x4.mul(v128.load(f32At(src, c)), v128.load(f32At(scale, c))), v128.load(f32At(shift, c)));
      if (relu) v = f32x4.max(v, zero);
      v128.store(f32At(dst, c), v);
    }
    for (; c < channels; c++) {
      let v = load<f32>(f32At(src, c)) * load<f32>(f32At(scale, c)) + load<f32>(f32At(shift, c));
      if (relu && !(v > 0)) v = 0;
      store<f32>(f32At(dst, c), v);
    }
    src += stride;
    dst += stride;
  }
}

/**
 * y = (x − μ)·γ/√(σ² + eps) + β (then ReLU), with the batch's mean μ and biased variance σ² over the rows written to
 * `mean` and `variance` ([C] each).
 */
export function batchNormForward(x: usize, rows: i32, channels: i32, gamma: usize, beta: usize, eps: f32, relu: bool, y: usize, mean: usize, variance: usize, scratch: usize): void {
  const total = scratch;
  const acc = scratch + (<usize>channels << 3);
  const scale = acc + (<usize>channels << 2);
  const shift = scale + (<usize>channels << 2);
  clear(mean, channels << 2);
  columnMoments(x, rows, channels, mean, false, acc, total);
  for (let c = 0; c < channels; c++) store<f32>(f32At(mean, c), <f32>(load<f64>(f64At(total, c)) / <f64>rows));
  columnMoments(x, rows, channels, mean, true, acc, total);
  for (let c = 0; c < channels; c++) {
    const v = <f32>(load<f64>(f64At(total, c)) / <f64>rows);
    store<f32>(f32At(variance, c), v);
    const k = load<f32>(f32At(gamma, c)) / Mathf.sqrt(v + eps);
    store<f32>(f32At(scale, c), k);
    store<f32>(f32At(shift, c), load<f32>(f32At(beta, c)) - load<f32>(f32At(mean, c)) * k);
  }
  affine(x, rows, channels, scale, shift, relu, y);
}

/**
 * Channel c's part of the gradient from Σg and Σg·(x − μ) over m rows: dγ and dβ, and the coefficients of
 * dx = k·g + a·x + b written to kAt, aAt, bAt (from dx = k·g + a·(x − μ) − k·Σg/m: b = −a·μ − k·Σg/m).
 */
function gradientCoefficients(c: i32, sg: f64, sgc: f64, m: f64, gamma: usize, mean: usize, variance: usize, eps: f32, dGamma: usize, dBeta: usize, kAt: usize, aAt: usize, bAt: usize): void {
  const rstd = 1 / Math.sqrt(<f64>load<f32>(f32At(variance, c)) + <f64>eps);
  const k = <f64>load<f32>(f32At(gamma, c)) * rstd;
  const a = (-k * rstd * rstd * sgc) / m;
  store<f32>(f32At(dGamma, c), <f32>(sgc * rstd));
  store<f32>(f32At(dBeta, c), <f32>sg);
  store<f32>(kAt, <f32>k);
  store<f32>(aAt, <f32>a);
  store<f32>(bAt, <f32>(-a * <f64>load<f32>(f32At(mean, c)) - (k * sg) / m));
}

/**
 * The gradient of batchNormForward for dy (at its output y): with g = dy (masked by y > 0 under ReLU), c = x − μ,
 * r = 1/√(σ² + eps) and k = γ·r over M rows: dγ = r·Σg·c, dβ = Σg, dx = k·g − k·r²·(Σg·c / M)·c − k·Σg / M.
 */
export function batchNormBackward(dy: usize, y: usize, x: usize, rows: i32, channels: i32, gamma: usize, mean: usize, variance: usize, eps: f32, relu: bool, dx: usize, dGamma: usize, dBeta: usize, scratch: usize): void {
  const totalG = scratch;
  const totalGc = totalG + (<usize>channels << 3);
  const accG = totalGc + (<usize>channels << 3);
  const accGc = accG + (<usize>channels << 2);
  const k = accGc + (<usize>channels << 2);
  const a = k + (<usize>channels << 2);
  const b = a + (<usize>channels << 2);
  clear(totalG, channels << 4);
  clear(accG, channels << 3);
  const simd = channels & ~3;
  const stride = <usize>channels << 2;
  const zero = f32x4.splat(0);
  let offset: usize = 0;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (; c < simd; c += 4) {
      let g = v128.load(f32At(dy + offset, c));
      if (relu) g = v128.and(g, f32x4.gt(v128.load(f32At(y + offset, c)), zero));
      const d = f32x4.sub(v128.load(f32At(x + offset, c)), v128.load(f32At(mean, c)));
      const pg = f32At(accG, c);
      const pgc = f32At(accGc, c);
      v128.store(pg, f32x4.add(v128.load(pg), g));
      v128.store(pgc, f32x4.add(v128.load(pgc), f32x4.mul(g, d)));
    }
    for (; c < channels; c++) {
      let g = load<f32>(f32At(dy + offset, c));
      if (relu && !(load<f32>(f32At(y + offset, c)) > 0)) g = 0;
      const d = load<f32>(f32At(x + offset, c)) - load<f32>(f32At(mean, c));
      store<f32>(f32At(accG, c), load<f32>(f32At(accG, c)) + g);
      store<f32>(f32At(accGc, c), load<f32>(f32At(accGc, c)) + g * d);
    }
    if (r % BLOCK == BLOCK - 1) {
      carry(accG, totalG, channels);
      carry(accGc, totalGc, channels);
    }
    offset += stride;
  }
  carry(accG, totalG, channels);
  carry(accGc, totalGc, channels);
  const m = <f64>rows;
  for (let c = 0; c < channels; c++) {
    gradientCoefficients(c, load<f64>(f64At(totalG, c)), load<f64>(f64At(totalGc, c)), m, gamma, mean, variance, eps, dGamma, dBeta, f32At(k, c), f32At(a, c), f32At(b, c));
  }
  offset = 0;
  for (let r = 0; r < rows; r++) {
    let c = 0;
    for (; c < simd; c += 4) {
      let g = v128.load(f32At(dy + offset, c));
      if (relu) g = v128.and(g, f32x4.gt(v128.load(f32At(y + offset, c)), zero));
      const v = f32x4.add(f32x4.add(f32x4.mul(v128.load(f32At(k, c)), g), f32x4.mul(v128.load(f32At(a, c)), v128.load(f32At(x + offset, c)))), v128.load(f32At(b, c)));
      v128.store(f32At(dx + offset, c), v);
    }
    for (; c < channels; c++) {
      let g = load<f32>(f32At(dy + offset, c));
      if (relu && !(load<f32>(f32At(y + offset, c)) > 0)) g = 0;
      store<f32>(f32At(dx + offset, c), load<f32>(f32At(k, c)) * g + load<f32>(f32At(a, c)) * load<f32>(f32At(x + offset, c)) + load<f32>(f32At(b, c)));
    }
    offset += stride;
  }
}

/**
 * Σ over a contiguous run of `length` floats of (v − centre) (or its square): f32 SIMD partials over blocks of 256
 * floats, carried in f64.
 */
function runSum(p: usize, length: i32, centre: f32, squared: bool): f64 {
  let total: f64 = 0;
  const c = f32x4.splat(centre);
  const simd = length & ~3;
  let i = 0;
  while (i < simd) {
    const end = min(i + 256, simd);
    let acc = f32x4.splat(0);
    for (; i < end; i += 4) {
      const d = f32x4.sub(v128.load(p + (<usize>i << 2)), c);
      acc = f32x4.add(acc, squared ? f32x4.mul(d, d) : d);
    }
    total += <f64>(f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + <f64>(f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; i < length; i++) {
    const d = load<f32>(p + (<usize>i << 2)) - centre;
    total += <f64>(squared ? d * d : d);
  }
  return total;
}

/** batchNormForward on a channel-first [n, C, P] tensor (P = t·h·w). */
export function batchNormForwardPlanar(x: usize, n: i32, channels: i32, plane: i32, gamma: usize, beta: usize, eps: f32, relu: bool, y: usize, mean: usize, variance: usize): void {
  const rows = <f64>n * <f64>plane;
  const planeBytes = <usize>plane << 2;
  const zero = f32x4.splat(0);
  const simd = plane & ~3;
  for (let c = 0; c < channels; c++) {
    let sum: f64 = 0;
    for (let b = 0; b < n; b++) sum += runSum(x + <usize>(b * channels + c) * planeBytes, plane, 0, false);
    const mu = <f32>(sum / rows);
    let squares: f64 = 0;
    for (let b = 0; b < n; b++) squares += runSum(x + <usize>(b * channels + c) * planeBytes, plane, mu, true);
    const v = <f32>(squares / rows);
    store<f32>(f32At(mean, c), mu);
    store<f32>(f32At(variance, c), v);
    const k = load<f32>(f32At(gamma, c)) / Mathf.sqrt(v + eps);
    const shift = load<f32>(f32At(beta, c)) - mu * k;
    const kv = f32x4.splat(k);
    const sv = f32x4.splat(shift);
    for (let b = 0; b < n; b++) {
      const offset = <usize>(b * channels + c) * planeBytes;
      const src = x + offset;
      const dst = y + offset;
      let i = 0;
      for (; i < simd; i += 4) {
        let v4 = f32x4.add(f32x4.mul(v128.load(src + (<usize>i << 2)), kv), sv);
        if (relu) v4 = f32x4.max(v4, zero);
        v128.store(dst + (<usize>i << 2), v4);
      }
      for (; i < plane; i++) {
        let v1 = load<f32>(src + (<usize>i << 2)) * k + shift;
        if (relu && !(v1 > 0)) v1 = 0;
        store<f32>(dst + (<usize>i << 2), v1);
      }
    }
  }
}

/** batchNormBackward on channel-first [n, C, P] tensors. */
export function batchNormBackwardPlanar(dy: usize, y: usize, x: usize, n: i32, channels: i32, plane: i32, gamma: usize, mean: usize, variance: usize, eps: f32, relu: bool, dx: usize, dGamma: usize, dBeta: usize, scratch: usize): void {
  const rows = <f64>n * <f64>plane;
  const planeBytes = <usize>plane << 2;
  const zero = f32x4.splat(0);
  const simd = plane & ~3;
  for (let c = 0; c < channels; c++) {
    const mu = load<f32>(f32At(mean, c));
    const muv = f32x4.splat(mu);
    let sg: f64 = 0;
    let sgc: f64 = 0;
    for (let b = 0; b < n; b++) {
      const offset = <usize>(b * channels + c) * planeBytes;
      let i = 0;
      while (i < simd) {
        const end = min(i + 256, simd);
        let ag = f32x4.splat(0);
        let agc = f32x4.splat(0);
        for (; i < end; i += 4) {
          const off = offset + (<usize>i << 2);
          let g = v128.load(dy + off);
          if (relu) g = v128.and(g, f32x4.gt(v128.load(y + off), zero));
          ag = f32x4.add(ag, g);
          agc = f32x4.add(agc, f32x4.mul(g, f32x4.sub(v128.load(x + off), muv)));
        }
        sg += <f64>(f32x4.extract_lane(ag, 0) + f32x4.extract_lane(ag, 1)) + <f64>(f32x4.extract_lane(ag, 2) + f32x4.extract_lane(ag, 3));
        sgc += <f64>(f32x4.extract_lane(agc, 0) + f32x4.extract_lane(agc, 1)) + <f64>(f32x4.extract_lane(agc, 2) + f32x4.extract_lane(agc, 3));
      }
      for (; i < plane; i++) {
        const off = offset + (<usize>i << 2);
        let g = load<f32>(dy + off);
        if (relu && !(load<f32>(y + off) > 0)) g = 0;
        sg += <f64>g;
        sgc += <f64>(g * (load<f32>(x + off) - mu));
      }
    }
    gradientCoefficients(c, sg, sgc, rows, gamma, mean, variance, eps, dGamma, dBeta, scratch, scratch + 4, scratch + 8);
    const k = load<f32>(scratch);
    const a = load<f32>(scratch + 4);
    const bc = load<f32>(scratch + 8);
    const kv = f32x4.splat(k);
    const av = f32x4.splat(a);
    const bv = f32x4.splat(bc);
    for (let b = 0; b < n; b++) {
      const offset = <usize>(b * channels + c) * planeBytes;
      let i = 0;
      for (; i < simd; i += 4) {
        const off = offset + (<usize>i << 2);
        let g = v128.load(dy + off);
        if (relu) g = v128.and(g, f32x4.gt(v128.load(y + off), zero));
        v128.store(dx + off, f32x4.add(f32x4.add(f32x4.mul(kv, g), f32x4.mul(av, v128.load(x + off))), bv));
      }
      for (; i < plane; i++) {
        const off = offset + (<usize>i << 2);
        let g = load<f32>(dy + off);
        if (relu && !(load<f32>(y + off) > 0)) g = 0;
        store<f32>(dx + off, k * g + a * load<f32>(x + off) + bc);
      }
    }
  }
}
