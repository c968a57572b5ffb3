/**
 * Video backbones (METHODS.md §1), channel-last, each ending at its last feature map (no global pooling), with a width
 * multiplier and blocks per stage for small CPU runs:
 * - c3d: C3D with BN (64 | pool(1,2,2) | 128 | pool | 256,256 | pool | 512,512 | pool | 512,512; no pool5);
 * - r3d: ResNet-3D with basic blocks, stem 3×7×7 stride (1,2,2); 1 block per stage = PRP's 10-layer variant, 2 = R3D-18;
 * - r2plus1d: every 3×3×3 split into 1×3×3 then 3×1×1 with middle width floor(t·d²·Cin·Cout / (d²·Cin + t·Cout)),
 *   stem 1×7×7 (45 channels) then 3×1×1, as in torchvision's R(2+1)D.
 * - s3d: S3D (Xie et al. 2018; CoCLR's backbone, as in its s3dg.py without gating): separable convolutions (1×k×k then
 *   k×1×1, each with BN + ReLU) and Inception blocks with I3D's widths, ending at 1024 channels; 32×128×128 gives
 *   [N, 4, 4, 4, 1024]. Overlapping max pools use `maxPool3dStrided`.
 * For 16×112×112 at width 1 the first three give 512×2×7×7 (as [N, 2, 7, 7, 512]). The ResNets' stem parameters are in
 * optimiser group "stem" (TSP freezes it with `groups: { stem: 0 }`); C3D's first conv stays in "default". A backbone's
 * input is data: its first convolution computes no input gradient (`dataInput`).
 */
import * as tf from "@tensorflow/tfjs";
import { batchNormLayer, conv3dBnRelu, conv3dLayer, sequential, type Layer } from "./layers.ts";
import { channelFirstPays, maxPool3d, maxPool3dStrided, type Triple } from "./ops.ts";
import type { ParamStore } from "./params.ts";
import type { BackboneConfig } from "./config.ts";

export interface Backbone {
  forward: Layer;
  /** Channels of the last feature map. */
  channels: number;
  /** Total spatial and temporal downsampling of the feature map. */
  stride: { t: number; s: number };
}

export function scaled(channels: number, width: number): number {
  return Math.max(1, Math.round(channels * width));
}

function c3d(store: ParamStore, prefix: string, width: number): Backbone {
  const w = (c: number) => scaled(c, width);
  let cin = 3;
  const unit = (name: string, cout: number): Layer => {
    const layer = conv3dBnRelu(store, `${prefix}.${name}`, { cin, cout, kernel: [3, 3, 3], pad: [1, 1, 1], dataInput: name === "conv1" });
    cin = cout;
    return layer;
  };
  const pool = (window: Triple): Layer => (x) => maxPool3d(x, window);
  const forward = sequential(
    unit("conv1", w(64)), pool([1, 2, 2]),
    unit("conv2", w(128)), pool([2, 2, 2]),
    unit("conv3a", w(256)), unit("conv3b", w(256)), pool([2, 2, 2]),
    unit("conv4a", w(512)), unit("conv4b", w(512)), pool([2, 2, 2]),
    unit("conv5a", w(512)), unit("conv5b", w(512)),
  );
  return { forward, channels: w(512), stride: { t: 8, s: 16 } };
}

/** (2+1)D middle width of a t×d×d convolution from cin to cout channels. */
export function midChannels(cin: number, cout: number, t = 3, d = 3): number {
  return Math.floor((t * d * d * cin * cout) / (d * d * cin + t * cout));
}

/** A 3×3×3 convolution (r3d) or its (2+1)D factorisation (r2plus1d), stride s in all three axes. */
function conv333(store: ParamStore, name: string, kind: "r3d" | "r2plus1d", cin: number, cout: number, s: number): Layer {
  if (kind === "r3d") return conv3dLayer(store, name, { cin, cout, kernel: [3, 3, 3], stride: [s, s, s], pad: [1, 1, 1] });
  const mid = midChannels(cin, cout);
  const spatial = conv3dLayer(store, `${name}.spatial`, { cin, cout: mid, kernel: [1, 3, 3], stride: [1, s, s], pad: [0, 1, 1] });
  const bnRelu = batchNormLayer(store, `${name}.bn_mid`, mid, undefined, true);
  const temporal = conv3dLayer(store, `${name}.temporal`, { cin: mid, cout, kernel: [3, 1, 1], stride: [s, 1, 1], pad: [1, 0, 0] });
  return (x, training) => temporal(bnRelu(spatial(x, training), training), training);
}

function basicBlock(store: ParamStore, name: string, kind: "r3d" | "r2plus1d", cin: number, cout: number, s: number): Layer {
  const conv1 = conv333(store, `${name}.conv1`, kind, cin, cout, s);
  const bn1Relu = batchNormLayer(store, `${name}.bn1`, cout, undefined, true);
  const conv2 = conv333(store, `${name}.conv2`, kind, cout, cout, 1);
  const bn2 = batchNormLayer(store, `${name}.bn2`, cout);
  const shortcut: Layer | undefined =
    s !== 1 || cin !== cout
      ? sequential(conv3dLayer(store, `${name}.downsample.conv`, { cin, cout, kernel: [1, 1, 1], stride: [s, s, s] }), batchNormLayer(store, `${name}.downsample.bn`, cout))
      : undefined;
  return (x, training) => {
    const y = bn2(conv2(bn1Relu(conv1(x, training), training), training), training);
    const skip = shortcut === undefined ? x : shortcut(x, training);
    return tf.relu(tf.add(y, skip)) as tf.Tensor5D;
  };
}

function resnet(store: ParamStore, prefix: string, kind: "r3d" | "r2plus1d", width: number, blocks: number): Backbone {
  const w = (c: number) => scaled(c, width);
  const stem: Layer =
    kind === "r3d"
      ? conv3dBnRelu(store, `${prefix}.stem`, { cin: 3, cout: w(64), kernel: [3, 7, 7], stride: [1, 2, 2], pad: [1, 3, 3], group: "stem", dataInput: true })
      : sequential(
          conv3dBnRelu(store, `${prefix}.stem.spatial`, { cin: 3, cout: w(45), kernel: [1, 7, 7], stride: [1, 2, 2], pad: [0, 3, 3], group: "stem", dataInput: true }),
          conv3dBnRelu(store, `${prefix}.stem.temporal`, { cin: w(45), cout: w(64), kernel: [3, 1, 1], pad: [1, 0, 0], group: "stem" }),
        );
  const layers: Layer[] = [stem];
  let cin = w(64);
  [64, 128, 256, 512].forEach((c, stage) => {
    for (let b = 0; b < blocks; b += 1) {
      const s = stage > 0 && b === 0 ? 2 : 1;
      layers.push(basicBlock(store, `${prefix}.layer${stage + 1}.${b}`, kind, cin, w(c), s));
      cin = w(c);
    }
  });
  return { forward: sequential(...layers), channels: w(512), stride: { t: 8, s: 16 } };
}

/**
 * S3D's separable convolution: 1×k×k (stride 1×s×s) + BN + ReLU, then k×1×1 (stride s×1×1) + BN + ReLU. Between the
 * two, activations stay channel-first where that pays (ops.ts channelFirstPays): ONNX Runtime's Conv takes and gives
 * them so, and four transposes of the block's middle tensor (two each way) are not made.
 */
export function sepConv(store: ParamStore, name: string, cin: number, cout: number, k: number, s: number, group?: string, dataInput = false): Layer {
  const p = Math.floor(k / 2);
  const g = group === undefined ? {} : { group };
  const spatial = conv3dBnRelu(store, `${name}.spatial`, { cin, cout, kernel: [1, k, k], stride: [1, s, s], pad: [0, p, p], dataInput, ...g });
  const temporal = conv3dBnRelu(store, `${name}.temporal`, { cin: cout, cout, kernel: [k, 1, 1], stride: [s, 1, 1], pad: [p, 0, 0], ...g });
  return (x, training) => {
    if (!channelFirstPays()) return temporal(spatial(x, training), training);
    return temporal(spatial(x, training, { x: "last", y: "first" }), training, { x: "first", y: "last" });
  };
}

/** I3D's Inception widths: [branch 0, branch 1 reduce → out, branch 2 reduce → out, branch 3 (after a 3×3×3 max pool)]. */
const inception: Array<[string, number, number, number, number, number, number]> = [
  ["mixed3b", 64, 96, 128, 16, 32, 32],
  ["mixed3c", 128, 128, 192, 32, 96, 64],
  ["mixed4b", 192, 96, 208, 16, 48, 64],
  ["mixed4c", 160, 112, 224, 24, 64, 64],
  ["mixed4d", 128, 128, 256, 24, 64, 64],
  ["mixed4e", 112, 144, 288, 32, 64, 64],
  ["mixed4f", 256, 160, 320, 32, 128, 128],
  ["mixed5b", 256, 160, 320, 32, 128, 128],
  ["mixed5c", 384, 192, 384, 48, 128, 128],
];

function s3d(store: ParamStore, prefix: string, width: number): Backbone {
  const w = (c: number) => scaled(c, width);
  const unit = (name: string, cin: number, cout: number) => conv3dBnRelu(store, `${prefix}.${name}`, { cin, cout, kernel: [1, 1, 1] });
  const pool = (window: Triple, stride: Triple, pad: Triple): Layer => (x) => maxPool3dStrided(x, window, stride, pad);
  const layers: Layer[] = [
    sepConv(store, `${prefix}.conv1a`, 3, w(64), 7, 2, "stem", true),
    pool([1, 3, 3], [1, 2, 2], [0, 1, 1]),
    unit("conv2b", w(64), w(64)),
    sepConv(store, `${prefix}.conv2c`, w(64), w(192), 3, 1),
    pool([1, 3, 3], [1, 2, 2], [0, 1, 1]),
  ];
  let cin = w(192);
  for (const [name, b0, b1r, b1, b2r, b2, b3] of inception) {
    if (name === "mixed4b") layers.push(pool([3, 3, 3], [2, 2, 2], [1, 1, 1]));
    if (name === "mixed5b") layers.push(pool([2, 2, 2], [2, 2, 2], [0, 0, 0]));
    const n = `${prefix}.${name}`;
    const branches: Layer[] = [
      unit(`${name}.b0`, cin, w(b0)),
      sequential(unit(`${name}.b1a`, cin, w(b1r)), sepConv(store, `${n}.b1b`, w(b1r), w(b1), 3, 1)),
      sequential(unit(`${name}.b2a`, cin, w(b2r)), sepConv(store, `${n}.b2b`, w(b2r), w(b2), 3, 1)),
      sequential(pool([3, 3, 3], [1, 1, 1], [1, 1, 1]), unit(`${name}.b3b`, cin, w(b3))),
    ];
    layers.push((x, training) => {
      // concatenated on rank-2 views [N·T·H·W, C]: the gradient of a rank-5 concat (SplitV) takes wasm's slow generic
      // path (a third of S3D's step before this)
      const outs = branches.map((branch) => branch(x, training));
      const [n, t, h, wd] = outs[0]!.shape;
      const rows = n * t * h * wd;
      const joined = tf.concat(outs.map((out) => out.reshape([rows, out.shape[4]])), 1);
      return joined.reshape([n, t, h, wd, joined.shape[1]!]) as tf.Tensor5D;
    });
    cin = w(b0) + w(b1) + w(b2) + w(b3);
  }
  return { forward: sequential(...layers), channels: cin, stride: { t: 8, s: 32 } };
}

export function createBackbone(store: ParamStore, config: BackboneConfig, prefix = "backbone"): Backbone {
  if (config.name === "c3d") return c3d(store, prefix, config.width);
  if (config.name === "s3d") return s3d(store, prefix, config.width);
  return resnet(store, prefix, config.name, config.width, config.blocks);
}
