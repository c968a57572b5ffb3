/**
 * Spatial augmentation, with parameters drawn once per clip and applied to all its frames (and, when shared, to every
 * view of a sample: CoCLR's RGB and flow views get the same crop and flip). torchvision semantics:
 * - random resized crop: area ∈ scale·H·W and log-uniform aspect ∈ ratio, 10 tries, then the centre fallback clamped
 *   to the ratio range (the same algorithm as torchvision's RandomResizedCrop.get_params);
 * - random / centre crop; horizontal flip with probability p;
 * - resampling: bilinear, align_corners false, edges clamped.
 * Flipping a flow view negates its horizontal component u (channel 0): for uint8 CoCLR-quantised flow (128 = 0) that is
 * 255 − q, for float flow −u. The CoCLR reference does not negate; `negateU: false` matches it.
 */
import { ClipflowError } from "../core/errors.ts";
import type { Rng } from "../core/rng.ts";

export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SpatialParams {
  box: CropBox;
  flip: boolean;
}

export function drawRandomResizedCrop(rng: Rng, height: number, width: number, scale: readonly [number, number], ratio: readonly [number, number]): CropBox {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) return { x: rng.int(0, width - w), y: rng.int(0, height - h), width: w, height: h };
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(...ratio)) h = Math.round(w / Math.min(...ratio));
  else if (inRatio > Math.max(...ratio)) w = Math.round(h * Math.max(...ratio));
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

export function drawRandomCrop(rng: Rng, height: number, width: number, size: readonly [number, number]): CropBox {
  const [w, h] = size;
  if (w > width || h > height) throw new ClipflowError("ConfigError", `crop ${w}×${h} is larger than the frame ${width}×${height}`);
  return { x: rng.int(0, width - w), y: rng.int(0, height - h), width: w, height: h };
}

export function centreCrop(height: number, width: number, size: readonly [number, number]): CropBox {
  const [w, h] = size;
  if (w > width || h > height) throw new ClipflowError("ConfigError", `crop ${w}×${h} is larger than the frame ${width}×${height}`);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

export interface CropResizeInput {
  data: Uint8Array | Float32Array;
  shape: [number, number, number, number];
  box: CropBox;
  /** Output width × height (the box's size: no resampling). */
  size: [number, number];
  flip: boolean;
  /** Negate channel 0 on flip (flow u). */
  negateU: boolean;
}

/** Crops every frame to the box, resizes it bilinearly to `size`, and flips it: THWC in, THWC out, same dtype. */
export function cropResize(input: CropResizeInput): { data: Uint8Array | Float32Array; shape: [number, number, number, number] } {
  const [t, height, width, c] = input.shape;
  const { box, flip } = input;
  const [outW, outH] = input.size;
  if (box.x < 0 || box.y < 0 || box.width < 1 || box.height < 1 || box.x + box.width > width || box.y + box.height > height) {
    throw new ClipflowError("ConfigError", `crop box ${JSON.stringify(box)} is outside the ${width}×${height} frame`);
  }
  const float = input.data instanceof Float32Array;
  const out = float ? new Float32Array(t * outH * outW * c) : new Uint8Array(t * outH * outW * c);
  const axis = (dst: number, inSize: number, outSize: number, offset: number) => {
    const s = Math.max(0, (dst + 0.5) * (inSize / outSize) - 0.5);
    const i0 = Math.min(Math.floor(s), inSize - 1);
    return [offset + i0, offset + Math.min(i0 + 1, inSize - 1), s - i0] as const;
  };
  const xs = Array.from({ length: outW }, (_, x) => axis(x, box.width, outW, box.x));
  const ys = Array.from({ length: outH }, (_, y) => axis(y, box.height, outH, box.y));
  const same = outW === box.width && outH === box.height;
  for (let f = 0; f < t; f++) {
    const src = f * height * width * c;
    const dst = f * outH * outW * c;
    for (let y = 0; y < outH; y++) {
      const [y0, y1, ly] = ys[y] as readonly [number, number, number];
      for (let x = 0; x < outW; x++) {
        const [x0, x1, lx] = xs[x] as readonly [number, number, number];
        const ox = flip ? outW - 1 - x : x;
        for (let ch = 0; ch < c; ch++) {
          let value: number;
          if (same) value = input.data[src + (y0 * width + x0) * c + ch] as number;
          else {
            const top = (input.data[src + (y0 * width + x0) * c + ch] as number) * (1 - lx) + (input.data[src + (y0 * width + x1) * c + ch] as number) * lx;
            const bottom = (input.data[src + (y1 * width + x0) * c + ch] as number) * (1 - lx) + (input.data[src + (y1 * width + x1) * c + ch] as number) * lx;
            value = top * (1 - ly) + bottom * ly;
          }
          if (flip && input.negateU && ch === 0) value = float ? -value : 255 - value;
          out[dst + (y * outW + ox) * c + ch] = float ? value : Math.min(255, Math.max(0, Math.round(value)));
        }
      }
    }
  }
  return { data: out, shape: [t, outH, outW, c] };
}

export interface RotateInput {
  data: Uint8Array | Float32Array;
  shape: [number, number, number, number];
  /** Degrees, counter-clockwise (PIL's convention). */
  angle: number;
  fill?: number;
}

/**
 * Rotation about the image centre with nearest-neighbour sampling and no expansion, exactly as PIL's
 * `Image.rotate(angle, resample=NEAREST)` (what torchvision's RandomRotation does to PIL images, VTDL's ±10°): each
 * output pixel centre (x + ½, y + ½) is mapped back through the inverse rotation about (w/2, h/2), the source pixel is
 * the truncated coordinate, and pixels that map outside are `fill`. One angle for every frame of a clip.
 */
export function rotateFrames(input: RotateInput): { data: Uint8Array | Float32Array; shape: [number, number, number, number] } {
  const [t, h, w, c] = input.shape;
  const radians = (-(((input.angle % 360) + 360) % 360) * Math.PI) / 180;
  const round15 = (v: number) => Math.round(v * 1e15) / 1e15;
  const a = round15(Math.cos(radians));
  const b = round15(Math.sin(radians));
  const d = round15(-Math.sin(radians));
  const e = a;
  const cx = w / 2;
  const cy = h / 2;
  const tx = a * -cx + b * -cy + cx;
  const ty = d * -cx + e * -cy + cy;
  const out = input.data instanceof Uint8Array ? new Uint8Array(input.data.length) : new Float32Array(input.data.length);
  if ((input.fill ?? 0) !== 0) out.fill(input.fill ?? 0);
  const frame = h * w * c;
  for (let y = 0; y < h; y += 1) {
    for (let x = 0; x < w; x += 1) {
      const u = a * (x + 0.5) + b * (y + 0.5) + tx;
      const v = d * (x + 0.5) + e * (y + 0.5) + ty;
      const xi = u < 0 ? -1 : Math.trunc(u);
      const yi = v < 0 ? -1 : Math.trunc(v);
      if (xi < 0 || xi >= w || yi < 0 || yi >= h) continue;
      const src = (yi * w + xi) * c;
      const dst = (y * w + x) * c;
      for (let f = 0; f < t; f += 1) for (let k = 0; k < c; k += 1) out[f * frame + dst + k] = input.data[f * frame + src + k]!;
    }
  }
  return { data: out, shape: input.shape };
}
