export interface NormalizeInput {
  data: Uint8Array | Float32Array;
  /** Channels per pixel (the last axis of a THWC array). */
  channels: number;
  /** Multiplied in first: 1/255 maps uint8 pixels to [0, 1]. */
  scale: number;
  mean: readonly number[];
  std: readonly number[];
}

/**
 * Per-channel normalisation of an interleaved (…C) array: out = (x·scale − mean[c]) / std[c], as float32.
 * With scale 1/255 and ImageNet mean/std this is torchvision's ToTensor + Normalize used by VTDL and CoCLR; with
 * mean 0 and std 1 it is PRP's plain [0, 1] scaling.
 */
export function normalize(input: NormalizeInput): Float32Array {
  const { data, channels, scale, mean, std } = input;
  if (mean.length !== channels || std.length !== channels) {
    throw new RangeError(`normalize: mean/std need ${channels} values, got ${mean.length}/${std.length}`);
  }
  if (data.length % channels !== 0) {
    throw new RangeError(`normalize: ${data.length} values is not a multiple of ${channels} channels`);
  }
  const out = new Float32Array(data.length);
  const mul = new Float32Array(channels);
  const add = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const s = std[c] as number;
    if (!(s > 0)) throw new RangeError(`normalize: std[${c}] must be > 0, got ${s}`);
    mul[c] = scale / s;
    add[c] = -(mean[c] as number) / s;
  }
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) {
      out[i + c] = (data[i + c] as number) * (mul[c] as number) + (add[c] as number);
    }
  }
  return out;
}
