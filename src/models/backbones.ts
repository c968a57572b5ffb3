/**
 * Video backbones (METHODS.md §1), channel-last, each ending at its last feature map (no global pooling), with a width
 * multiplier and blocks per stage for small CPU runs:
 * - c3d: C3D with BN (64 | pool(1,2,2) | 128 | pool | 256,256 | pool | 512,512 | pool | 512,512; no pool5);
 * - r3d: ResNet-3D with basic blocks, stem 3×7×7 stride (1,2,2); 1 block per stage = PRP's 10-layer variant, 2 = R3D-18;
 * - r2plus1d: every 3×3×3 split into 1×3×3 then 3×1×1 with middle width floor(t·d²·Cin·Cout / (d²·Cin + t·Cout)),
 *   stem 1×7×7 (45 channels) then 3×1×1, as in torchvision's R(2+1)D.
 * For 16×112×112 at width 1 all three give 512×2×7×7 (as [N, 2, 7, 7, 512]). The ResNets' stem parameters are in
 * optimiser group "stem" (TSP freezes it with `groups: { stem: 0 }`); C3D's first conv stays in "default".
 */
import * as tf from "@tensorflow/tfjs";
import { batchNormLayer, conv3dBnRelu, conv3dLayer, sequential, type Layer } from "./layers.ts";
import { maxPool3d, type Triple } from "./ops.ts";
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
    const layer = conv3dBnRelu(store, `${prefix}.${name}`, { cin, cout, kernel: [3, 3, 3], pad: [1, 1, 1] });
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
      ? conv3dBnRelu(store, `${prefix}.stem`, { cin: 3, cout: w(64), kernel: [3, 7, 7], stride: [1, 2, 2], pad: [1, 3, 3], group: "stem" })
      : sequential(
          conv3dBnRelu(store, `${prefix}.stem.spatial`, { cin: 3, cout: w(45), kernel: [1, 7, 7], stride: [1, 2, 2], pad: [0, 3, 3], group: "stem" }),
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

export function createBackbone(store: ParamStore, config: BackboneConfig, prefix = "backbone"): Backbone {
  if (config.name === "c3d") return c3d(store, prefix, config.width);
  return resnet(store, prefix, config.name, config.width, config.blocks);
}
