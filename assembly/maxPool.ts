/**
 * 3D max pooling on channel-last tensors [n, t, h, w, C] (PyTorch's MaxPool3d: floor mode, implicit −∞ padding, the
 * first maximum in (t, h, w) scan order wins), with the input position of each output's maximum kept for the gradient,
 * for ops.ts maxPool3dStrided on the wasm backend. Pointers are byte offsets into tfjs's wasm heap.
 */

/** The value of a window that holds no input (PyTorch rejects padding that would allow it). */
const EMPTY: f32 = -3.4e38;

/**
 * y[o, c] = max over the window of o of x[·, c]; index[o, c] = that maximum's position ((b·t + t')·h + h')·w + w'
 * (−1 for an empty window). Shapes: x [n, t, h, w, C], y and index [n, to, ho, wo, C].
 */
export function maxPoolForward(
  x: usize, n: i32, t: i32, h: i32, w: i32, channels: i32,
  kt: i32, kh: i32, kw: i32, st: i32, sh: i32, sw: i32, pt: i32, ph: i32, pw: i32,
  to: i32, ho: i32, wo: i32, y: usize, index: usize,
): void {
  const simd = channels & ~3;
  const rowBytes = <usize>channels << 2;
  let out: usize = 0;
  for (let b = 0; b < n; b++) {
    for (let ot = 0; ot < to; ot++) {
      const t0 = ot * st - pt;
      const ta = max(t0, 0);
      const tb = min(t0 + kt, t);
      for (let oh = 0; oh < ho; oh++) {
        const h0 = oh * sh - ph;
        const ha = max(h0, 0);
        const hb = min(h0 + kh, h);
        for (let ow = 0; ow < wo; ow++) {
          const w0 = ow * sw - pw;
          const wa = max(w0, 0);
          const wb = min(w0 + kw, w);
          const yRow = y + out * rowBytes;
          const iRow = index + out * rowBytes;
          let first = true;
          for (let it = ta; it < tb; it++) {
            for (let ih = ha; ih < hb; ih++) {
              for (let iw = wa; iw < wb; iw++) {
                const p = ((b * t + it) * h + ih) * w + iw;
                const xRow = x + <usize>p * rowBytes;
                if (first) {
                  memory.copy(yRow, xRow, rowBytes);
                  const pv = i32x4.splat(p);
                  let c = 0;
                  for (; c < simd; c += 4) v128.store(iRow + (<usize>c << 2), pv);
                  for (; c < channels; c++) store<i32>(iRow + (<usize>c << 2), p);
                  first = false;
                  continue;
                }
                const pv = i32x4.splat(p);
                let c = 0;
                for (; c < simd; c += 4) {
                  const off = <usize>c << 2;
                  const v = v128.load(xRow + off);
                  const best = v128.load(yRow + off);
                  const above = f32x4.gt(v, best);
                  v128.store(yRow + off, v128.bitselect(v, best, above));
                  v128.store(iRow + off, v128.bitselect(pv, v128.load(iRow + off), above));
                }
                for (; c < channels; c++) {
                  const off = <usize>c << 2;
                  const v = load<f32>(xRow + off);
                  if (v > load<f32>(yRow + off)) {
                    store<f32>(yRow + off, v);
                    store<i32>(iRow + off, p);
                  }
                }
              }
            }
          }
          if (first) {
            for (let c = 0; c < channels; c++) {
              store<f32>(yRow + (<usize>c << 2), EMPTY);
              store<i32>(iRow + (<usize>c << 2), -1);
            }
          }
          out++;
        }
      }
    }
  }
}

/** dx = 0, then dx[index[o, c], c] += dy[o, c] for every output o ([outputs, C] each; dx holds `inputs` positions). */
export function maxPoolBackward(dy: usize, index: usize, outputs: i32, inputs: i32, channels: i32, dx: usize): void {
  memory.fill(dx, 0, <usize>inputs * <usize>channels << 2);
  const rowBytes = <usize>channels << 2;
  for (let o = 0; o < outputs; o++) {
    const dyRow = dy + <usize>o * rowBytes;
    const iRow = index + <usize>o * rowBytes;
    for (let c = 0; c < channels; c++) {
      const off = <usize>c << 2;
      const p = load<i32>(iRow + off);
      if (p < 0) continue;
      const at = dx + <usize>p * rowBytes + off;
      store<f32>(at, load<f32>(at) + load<f32>(dyRow + off));
    }
  }
}
