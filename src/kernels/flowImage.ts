/**
 * Single-channel float image operations that optical flow needs, each with OpenCV's semantics where the flow methods
 * are defined by OpenCV (CoCLR's reference flow is `cv2.DualTVL1OpticalFlow` on `cv2.cvtColor(BGR2GRAY)` frames):
 * - `toGray`: OpenCV's fixed-point luma (R·4899 + G·9617 + B·1868 + 2¹³) >> 14, bit-exact;
 * - `resizeLinear`: `cv::resize(INTER_LINEAR)` with a scale factor or a target size (half-pixel centres, edge clamp);
 * - `remapCubic`: `cv::remap(INTER_CUBIC, BORDER_CONSTANT 0)`, sample positions rounded to 1/32 pixel as OpenCV's
 *   fixed-point map conversion does, Keys' kernel with a = −0.75;
 * - `medianBlur5`: a 5×5 median with replicated borders (a pruned odd-even merge sorting network);
 * - `separableFilter` and `boxSum`: separable filters with clamped borders;
 * - `zoomFlow`: a coarse level's flow resized to the next level and its vectors scaled.
 * Images are `Float32Array` rows of `width` values.
 */

export interface Plane {
  data: Float32Array;
  width: number;
  height: number;
}

/** Luma of one RGB frame (uint8 HWC) as OpenCV's RGB2GRAY computes it, as float. */
export function toGray(rgb: Uint8Array, offset: number, width: number, height: number): Plane {
  const data = new Float32Array(width * height);
  for (let i = 0, s = offset; i < data.length; i += 1, s += 3) {
    data[i] = (rgb[s]! * 4899 + rgb[s + 1]! * 9617 + rgb[s + 2]! * 1868 + 8192) >> 14;
  }
  return { data, width, height };
}

function linearTaps(outSize: number, inSize: number, scale: number): { index: Int32Array; weight: Float32Array } {
  const index = new Int32Array(outSize);
  const weight = new Float32Array(outSize);
  for (let d = 0; d < outSize; d += 1) {
    let f = (d + 0.5) * scale - 0.5;
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= inSize - 1) {
      s = inSize - 1;
      f = 0;
    }
    index[d] = s;
    weight[d] = f;
  }
  return { index, weight };
}

/**
 * Bilinear resize. With `factor`, the output is round(size·factor) and the source step is 1/factor (OpenCV's
 * `resize(src, Size(), f, f)`); with `size`, the step is in/out per axis.
 */
export function resizeLinear(src: Plane, target: { factor: number } | { width: number; height: number }): Plane {
  const width = "factor" in target ? Math.round(src.width * target.factor) : target.width;
  const height = "factor" in target ? Math.round(src.height * target.factor) : target.height;
  const sx = "factor" in target ? 1 / target.factor : src.width / width;
  const sy = "factor" in target ? 1 / target.factor : src.height / height;
  const xs = linearTaps(width, src.width, sx);
  const ys = linearTaps(height, src.height, sy);
  const data = new Float32Array(width * height);
  const lastX = src.width - 1;
  const lastY = src.height - 1;
  for (let y = 0; y < height; y += 1) {
    const y0 = ys.index[y]!;
    const row0 = y0 * src.width;
    const row1 = Math.min(y0 + 1, lastY) * src.width;
    const fy = ys.weight[y]!;
    for (let x = 0; x < width; x += 1) {
      const x0 = xs.index[x]!;
      const x1 = Math.min(x0 + 1, lastX);
      const fx = xs.weight[x]!;
      const top = src.data[row0 + x0]! * (1 - fx) + src.data[row0 + x1]! * fx;
      const bottom = src.data[row1 + x0]! * (1 - fx) + src.data[row1 + x1]! * fx;
      data[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return { data, width, height };
}

/**
 * Brings a flow field (u, v planes) from one pyramid level to another: each plane resized bilinearly to `to`, then u
 * multiplied by `scale[0]` and v by `scale[1]` (OpenCV's TV-L1 uses 1/scaleStep for both; Farnebäck the size ratios).
 */
export function zoomFlow(
  u: Float32Array,
  v: Float32Array,
  from: { width: number; height: number },
  to: { width: number; height: number },
  scale: readonly [number, number],
): [Float32Array, Float32Array] {
  const zoom = (data: Float32Array, factor: number) => {
    const out = resizeLinear({ data, width: from.width, height: from.height }, { width: to.width, height: to.height }).data;
    for (let i = 0; i < out.length; i += 1) out[i] = out[i]! * factor;
    return out;
  };
  return [zoom(u, scale[0]), zoom(v, scale[1])];
}

const TAB = 32;
/** Keys' cubic weights for the 32 sub-pixel phases, as OpenCV tabulates them (a = −0.75). */
const cubicTable = (() => {
  const a = -0.75;
  const table = new Float32Array(TAB * 4);
  for (let k = 0; k < TAB; k += 1) {
    const x = k / TAB;
    const c0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a;
    const c1 = ((a + 2) * x - (a + 3)) * x * x + 1;
    const c2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1;
    table.set([c0, c1, c2, 1 - c0 - c1 - c2], k * 4);
  }
  return table;
})();

/** Round half to even, as OpenCV's cvRound (lrint) and numpy's round do. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * out(x, y) = src(x + u(x, y), y + v(x, y)) by bicubic interpolation, for several planes of one size sampled at the
 * same positions; taps outside the image count as 0, and a sample whose whole 4×4 support is outside is 0 (OpenCV's
 * BORDER_CONSTANT).
 */
export function remapCubic(sources: Float32Array[], width: number, height: number, u: Float32Array, v: Float32Array, outs: Float32Array[]): void {
  const planes = sources.length;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = y * width + x;
      const X = roundHalfEven((x + u[i]!) * TAB);
      const Y = roundHalfEven((y + v[i]!) * TAB);
      const sx = (X >> 5) - 1;
      const sy = (Y >> 5) - 1;
      const wx = (X & 31) * 4;
      const wy = (Y & 31) * 4;
      const cx0 = cubicTable[wx]!;
      const cx1 = cubicTable[wx + 1]!;
      const cx2 = cubicTable[wx + 2]!;
      const cx3 = cubicTable[wx + 3]!;
      if (sx >= 0 && sy >= 0 && sx <= width - 4 && sy <= height - 4) {
        for (let p = 0; p < planes; p += 1) {
          const data = sources[p]!;
          let sum = 0;
          for (let r = 0; r < 4; r += 1) {
            const row = (sy + r) * width + sx;
            sum += cubicTable[wy + r]! * (data[row]! * cx0 + data[row + 1]! * cx1 + data[row + 2]! * cx2 + data[row + 3]! * cx3);
          }
          outs[p]![i] = sum;
        }
      } else if (sx >= width || sx + 4 <= 0 || sy >= height || sy + 4 <= 0) {
        for (let p = 0; p < planes; p += 1) outs[p]![i] = 0;
      } else {
        for (let p = 0; p < planes; p += 1) {
          const data = sources[p]!;
          let sum = 0;
          for (let r = 0; r < 4; r += 1) {
            const yy = sy + r;
            if (yy < 0 || yy >= height) continue;
            for (let c = 0; c < 4; c += 1) {
              const xx = sx + c;
              if (xx < 0 || xx >= width) continue;
              sum += cubicTable[wy + r]! * cubicTable[wx + c]! * data[yy * width + xx]!;
            }
          }
          outs[p]![i] = sum;
        }
      }
    }
  }
}

/**
 * The 5×5 median as straight-line code, generated once: each column of five is sorted first (shared by the five
 * pixels whose window contains it), then the five sorted columns are merged with Batcher's odd-even merges and only
 * the min/max operations that decide rank 12 are kept (140 instead of the 226 of a full sorting network).
 */
const median25 = (() => {
  const INF = -1;
  let next = 25;
  const ops: { out: number; kind: "<" | ">"; a: number; b: number }[] = [];
  const compare = (val: number[], i: number, j: number) => {
    const a = val[i]!;
    const b = val[j]!;
    if (b === INF) return;
    if (a === INF) {
      val[i] = b;
      val[j] = INF;
      return;
    }
    ops.push({ out: next, kind: "<", a, b }, { out: next + 1, kind: ">", a, b });
    val[i] = next;
    val[j] = next + 1;
    next += 2;
  };
  const merge = (val: number[], lo: number, n: number, r: number): void => {
    const m = r * 2;
    if (m >= n) return compare(val, lo, lo + r);
    merge(val, lo, n, m);
    merge(val, lo + r, n, m);
    for (let i = lo + r; i + r < lo + n; i += m) compare(val, i, i + r);
  };
  const mergeSorted = (a: number[], b: number[]): number[] => {
    let half = 1;
    while (half < Math.max(a.length, b.length)) half *= 2;
    const val = [...a, ...new Array<number>(half - a.length).fill(INF), ...b, ...new Array<number>(half - b.length).fill(INF)];
    merge(val, 0, 2 * half, 1);
    return val.filter((v) => v !== INF);
  };
  const column = (k: number) => [0, 1, 2, 3, 4].map((r) => k * 5 + r);
  const merged = mergeSorted(mergeSorted(mergeSorted(column(0), column(1)), mergeSorted(column(2), column(3))), column(4));
  const needed = new Set([merged[12]!]);
  const kept: typeof ops = [];
  for (let k = ops.length - 1; k >= 0; k -= 1) {
    const op = ops[k]!;
    if (!needed.has(op.out)) continue;
    kept.unshift(op);
    needed.add(op.a);
    needed.add(op.b);
  }
  const loads = Array.from({ length: 25 }, (_, i) => `const r${i} = S${i % 5}[row + X${Math.floor(i / 5)}];`);
  // branchless min / max on order-preserving int32 keys of the floats: a branch per comparator mispredicts on noisy
  // fields (4× slower than on smooth ones; translation flow is noise around a constant)
  const body = kept.map((op) =>
    op.kind === "<"
      ? `const r${op.out} = r${op.b} ^ ((r${op.a} ^ r${op.b}) & -((r${op.a} < r${op.b}) | 0));`
      : `const r${op.out} = r${op.a} ^ ((r${op.a} ^ r${op.b}) & -((r${op.a} < r${op.b}) | 0));`,
  );
  const source = `
    for (let y = 0; y < height; y += 1) {
      const row = y * width;
      for (let x = 0; x < width; x += 1) {
        const X0 = x < 2 ? 0 : x - 2, X1 = x < 1 ? 0 : x - 1, X2 = x, X3 = x + 1 < width ? x + 1 : width - 1, X4 = x + 2 < width ? x + 2 : width - 1;
        ${loads.join("\n")}
        ${body.join("\n")}
        out[row + x] = r${merged[12]};
      }
    }`;
  return new Function("S0", "S1", "S2", "S3", "S4", "out", "width", "height", source) as (
    S0: Int32Array, S1: Int32Array, S2: Int32Array, S3: Int32Array, S4: Int32Array, out: Int32Array, width: number, height: number,
  ) => void;
})();

/** The sorted columns of the last plane size (TV-L1 filters planes of one size thousands of times: no garbage). */
let columns: [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array] | undefined;

/** 5×5 median filter with replicated borders, in place (OpenCV's medianBlur(ksize 5) on float). */
export function medianBlur5(plane: Plane): void {
  const { width, height, data } = plane;
  // float32 bits → int32 keys with the floats' order (negative floats: flip all but the sign bit); an involution
  const keys = new Int32Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < keys.length; i += 1) keys[i] = keys[i]! ^ ((keys[i]! >> 31) & 0x7fffffff);
  if (columns === undefined || columns[0].length !== width * height) {
    columns = [0, 1, 2, 3, 4].map(() => new Int32Array(width * height)) as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  }
  const [S0, S1, S2, S3, S4] = columns;
  for (let y = 0; y < height; y += 1) {
    const [r0, r1, r2, r3, r4] = [-2, -1, 0, 1, 2].map((k) => Math.min(height - 1, Math.max(0, y + k)) * width) as [number, number, number, number, number];
    for (let x = 0; x < width; x += 1) {
      // a 9-comparator sorting network for the column of five, branchless (m = −(b < a) swaps a and b when set)
      let a = keys[r0 + x]!, b = keys[r1 + x]!, c = keys[r2 + x]!, d = keys[r3 + x]!, e = keys[r4 + x]!, m: number, t: number;
      m = -+(b < a); t = (a ^ b) & m; a ^= t; b ^= t;
      m = -+(e < d); t = (d ^ e) & m; d ^= t; e ^= t;
      m = -+(e < c); t = (c ^ e) & m; c ^= t; e ^= t;
      m = -+(d < c); t = (c ^ d) & m; c ^= t; d ^= t;
      m = -+(d < a); t = (a ^ d) & m; a ^= t; d ^= t;
      m = -+(c < a); t = (a ^ c) & m; a ^= t; c ^= t;
      m = -+(e < b); t = (b ^ e) & m; b ^= t; e ^= t;
      m = -+(d < b); t = (b ^ d) & m; b ^= t; d ^= t;
      m = -+(c < b); t = (b ^ c) & m; b ^= t; c ^= t;
      const i = y * width + x;
      S0[i] = a;
      S1[i] = b;
      S2[i] = c;
      S3[i] = d;
      S4[i] = e;
    }
  }
  median25(S0, S1, S2, S3, S4, keys, width, height);
  for (let i = 0; i < keys.length; i += 1) keys[i] = keys[i]! ^ ((keys[i]! >> 31) & 0x7fffffff);
}

/** Correlates rows then columns with a symmetric 1-D kernel (odd length), edges clamped. */
export function separableFilter(plane: Plane, kernel: Float64Array | Float32Array): Plane {
  const { width, height, data } = plane;
  const r = (kernel.length - 1) / 2;
  const taps = kernel.length;
  const tmp = new Float32Array(width * height);
  const out = new Float32Array(width * height);
  const padded = new Float32Array(width + 2 * r);
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    for (let x = -r; x < width + r; x += 1) padded[x + r] = data[row + Math.min(width - 1, Math.max(0, x))]!;
    for (let x = 0; x < width; x += 1) {
      let sum = 0;
      for (let k = 0; k < taps; k += 1) sum += kernel[k]! * padded[x + k]!;
      tmp[row + x] = sum;
    }
  }
  for (let y = 0; y < height; y += 1) {
    const row = y * width;
    for (let k = 0; k < taps; k += 1) {
      const w = kernel[k]!;
      const src = Math.min(height - 1, Math.max(0, y + k - r)) * width;
      for (let x = 0; x < width; x += 1) out[row + x] = out[row + x]! + w * tmp[src + x]!;
    }
  }
  return { data: out, width, height };
}

/** Sums over a (2r+1)² window for several planes of the same size at once (running sums, edges clamped), in place. */
export function boxSum(planes: Float32Array[], width: number, height: number, r: number): void {
  const padded = new Float64Array(width + 2 * r + 1);
  const columns = new Float64Array(width);
  const rows = new Float32Array(width * height);
  for (const data of planes) {
    for (let y = 0; y < height; y += 1) {
      const row = y * width;
      for (let x = -r; x < width + r; x += 1) padded[x + r] = data[row + Math.min(width - 1, Math.max(0, x))]!;
      let acc = 0;
      for (let k = 0; k < 2 * r + 1; k += 1) acc += padded[k]!;
      for (let x = 0; x < width; x += 1) {
        rows[row + x] = acc;
        acc += padded[x + 2 * r + 1]! - padded[x]!;
      }
    }
    columns.fill(0);
    for (let k = -r; k <= r; k += 1) {
      const src = Math.min(height - 1, Math.max(0, k)) * width;
      for (let x = 0; x < width; x += 1) columns[x] = columns[x]! + rows[src + x]!;
    }
    for (let y = 0; y < height; y += 1) {
      const row = y * width;
      const enter = Math.min(height - 1, y + r + 1) * width;
      const leave = Math.max(0, y - r) * width;
      for (let x = 0; x < width; x += 1) {
        data[row + x] = columns[x]!;
        columns[x] = columns[x]! + rows[enter + x]! - rows[leave + x]!;
      }
    }
  }
}
