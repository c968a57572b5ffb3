/**
 * Heads on a backbone's feature map [N, T, H, W, C] (METHODS.md §1–2):
 * - PRP rate classifier: conv3d C→C k3 + BN + ReLU → global average pool → Linear(C, rates), the Linear in optimiser
 *   group "final" (PRP trains it at 10× the base learning rate);
 * - PRP decoder: conv3d C→C k3 + BN + ReLU, then 3 × [ConvTranspose3d(C,C,2,2) → conv3d C→C/2 + BN + ReLU], then
 *   ConvTranspose3d(C/8, C/8, 2, 2) → conv3d C/8→3 + BN + ReLU: [N, 16·T, 16·H, 16·W, 3] (32×112×112 at the defaults);
 * - projection (MoCo-v2 style as VTDL uses it): global average pool → Linear(C, dim) → L2-normalise; CoCLR's MLP
 *   variant: pool → Linear(C, hidden) → ReLU → Linear(hidden, dim) → L2-normalise.
 */
import * as tf from "@tensorflow/tfjs";
import { conv3dBnRelu, linearLayer, sequential, upConvBnRelu, type Layer } from "./layers.ts";
import type { ParamStore } from "./params.ts";

export function globalAvgPool(x: tf.Tensor5D): tf.Tensor2D {
  return tf.mean(x, [1, 2, 3]) as tf.Tensor2D;
}

export function prpClassifier(store: ParamStore, channels: number, classes: number, prefix = "rateHead"): (x: tf.Tensor5D, training: boolean) => tf.Tensor2D {
  const conv = conv3dBnRelu(store, `${prefix}.conv`, { cin: channels, cout: channels, kernel: [3, 3, 3], pad: [1, 1, 1] });
  const fc = linearLayer(store, `${prefix}.fc`, channels, classes, "final");
  return (x, training) => fc(globalAvgPool(conv(x, training)));
}

export function prpDecoder(store: ParamStore, channels: number, prefix = "decoder"): Layer {
  const layers: Layer[] = [conv3dBnRelu(store, `${prefix}.conv0`, { cin: channels, cout: channels, kernel: [3, 3, 3], pad: [1, 1, 1] })];
  let c = channels;
  for (let i = 1; i <= 3; i += 1) {
    const half = Math.max(1, Math.floor(c / 2));
    layers.push(upConvBnRelu(store, `${prefix}.up${i}`, `${prefix}.conv${i}`, c, half));
    c = half;
  }
  layers.push(upConvBnRelu(store, `${prefix}.up4`, `${prefix}.out`, c, 3));
  return sequential(...layers);
}

export function projectionHead(store: ParamStore, channels: number, dim: number, prefix = "projection"): (x: tf.Tensor5D) => tf.Tensor2D {
  const fc = linearLayer(store, `${prefix}.fc`, channels, dim);
  return (x) => l2Normalize(fc(globalAvgPool(x)));
}

/** CoCLR's head: global average pool → 1×1×1 conv C→hidden + ReLU → 1×1×1 conv hidden→dim → L2 (as Linear layers on the pooled feature). */
export function mlpProjectionHead(store: ParamStore, channels: number, hidden: number, dim: number, prefix = "projection"): (x: tf.Tensor5D) => tf.Tensor2D {
  const fc1 = linearLayer(store, `${prefix}.fc1`, channels, hidden);
  const fc2 = linearLayer(store, `${prefix}.fc2`, hidden, dim);
  return (x) => l2Normalize(fc2(tf.relu(fc1(globalAvgPool(x)))));
}

/** Row-wise L2 normalisation with PyTorch's F.normalize epsilon (1e-12 on the norm). */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, "euclidean", 1, true), 1e-12)) as tf.Tensor2D;
}
