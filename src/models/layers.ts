/**
 * Layers as closures over a ParamStore: `const f = conv3dBnRelu(store, "conv1", {...}); y = f(x, training)`. Creating a
 * layer creates its parameters once; calling it is pure tensor maths (the train step runs it inside its tape).
 */
import * as tf from "@tensorflow/tfjs";
import { addBias, batchNorm, batchNormTrain, blend, conv3d, convTranspose3dStride2, upsampleConv3d, upsampleConvComposeCost, type ConvLayouts, type Triple } from "./ops.ts";
import type { Layout } from "./ortConv.ts";
import { convInit, torchDefault, type ParamStore } from "./params.ts";

export type Layer = (x: tf.Tensor5D, training: boolean) => tf.Tensor5D;

export interface ConvOptions {
  cin: number;
  cout: number;
  kernel: Triple;
  stride?: Triple;
  pad?: Triple;
  bias?: boolean;
  group?: string;
  /** The layer's input is data (a backbone's first convolution): no input gradient is computed. */
  dataInput?: boolean;
}

/** A layer that can also take and give channel-first tensors (see ops.ts channelFirstPays). */
export type LayoutLayer = (x: tf.Tensor5D, training: boolean, layouts?: ConvLayouts) => tf.Tensor5D;

export function conv3dLayer(store: ParamStore, name: string, o: ConvOptions): LayoutLayer {
  const [kt, kh, kw] = o.kernel;
  const weight = store.param(`${name}.weight`, [kh, kw, kt, o.cin, o.cout], convInit(store, o.cin, o.cout, kt * kh * kw), o.group);
  const bias = o.bias === true ? store.param(`${name}.bias`, [o.cout], { kind: "constant", value: 0 }, o.group) : undefined;
  const stride = o.stride ?? [1, 1, 1];
  const pad = o.pad ?? [0, 0, 0];
  return (x, _training, layouts) => {
    const y = conv3d(x, weight as tf.Tensor as tf.Tensor5D, stride, pad, o.dataInput !== true, layouts);
    if (bias === undefined) return y;
    // a channel-first output adds its bias per channel on the second axis
    return (layouts?.y === "first" ? tf.add(y, bias.reshape([1, o.cout, 1, 1, 1])) : addBias(y, bias)) as tf.Tensor5D;
  };
}

/**
 * BatchNorm3d (PyTorch semantics): batch statistics in training, running statistics (momentum 0.1, unbiased variance)
 * otherwise; gamma 1, beta 0 at start.
 */
export function batchNormLayer(store: ParamStore, name: string, channels: number, group?: string, relu = false): (x: tf.Tensor5D, training: boolean, layout?: Layout) => tf.Tensor5D {
  const gamma = store.param(`${name}.weight`, [channels], { kind: "constant", value: 1 }, group);
  const beta = store.param(`${name}.bias`, [channels], { kind: "constant", value: 0 }, group);
  const runningMean = store.buffer(`${name}.running_mean`, [channels], 0);
  const runningVar = store.buffer(`${name}.running_var`, [channels], 1);
  return (x, training, layout = "last") => {
    if (!training) {
      const y = batchNorm(x, gamma, beta, { mean: runningMean, variance: runningVar }, 1e-5, layout);
      return (relu ? tf.relu(y) : y) as tf.Tensor5D;
    }
    const { y, mean, variance } = batchNormTrain(x, gamma, beta, relu, 1e-5, layout);
    const rows = x.size / channels;
    const unbiased = 0.1 * (rows / Math.max(1, rows - 1));
    tf.tidy(() => {
      runningMean.assign(blend(runningMean, 0.9, mean, 0.1));
      runningVar.assign(blend(runningVar, 0.9, variance, unbiased));
    });
    tf.dispose([mean, variance]);
    return y as tf.Tensor5D;
  };
}

/** conv → BN → ReLU (fused), the unit of C3D-BN and of the PRP heads (conv without bias: BN supplies it). */
export function conv3dBnRelu(store: ParamStore, name: string, o: ConvOptions): LayoutLayer {
  const conv = conv3dLayer(store, `${name}.conv`, { ...o, bias: false });
  const bn = batchNormLayer(store, `${name}.bn`, o.cout, o.group, true);
  return (x, training, layouts) => bn(conv(x, training, layouts), training, layouts?.y);
}

/**
 * ConvTranspose3d(cin, cin, kernel 2, stride 2) with bias (PyTorch's default initialisation) → conv3d cin→cout k3 p1 →
 * BN → ReLU: a block of PRP's decoder, with the parameters a ConvTranspose3d layer named `up` and a conv3dBnRelu named
 * `conv` would have, created in that order. Where composing the two filters costs at most a quarter of the convolution
 * at the upsampled resolution, the block runs as one convolution on the coarse grid (ops.ts upsampleConv3d); the
 * first, narrow-grid block of a wide decoder keeps the two-layer form.
 */
export function upConvBnRelu(store: ParamStore, up: string, conv: string, cin: number, cout: number, group?: string): Layer {
  const upWeight = store.param(`${up}.weight`, [2, 2, 2, cin, cin], torchDefault(cin * 8), group) as tf.Tensor as tf.Tensor5D;
  const upBias = store.param(`${up}.bias`, [cin], torchDefault(cin * 8), group);
  const weight = store.param(`${conv}.conv.weight`, [3, 3, 3, cin, cout], convInit(store, cin, cout, 27), group) as tf.Tensor as tf.Tensor5D;
  const bn = batchNormLayer(store, `${conv}.bn`, cout, group, true);
  return (x, training) => {
    const [n, t, h, w] = x.shape;
    const upsampledMacs = 8 * n * t * h * w * 27 * cin * cout;
    const y =
      4 * upsampleConvComposeCost(cin, cin, cout) <= upsampledMacs
        ? upsampleConv3d(x, upWeight, upBias, weight)
        : conv3d(addBias(convTranspose3dStride2(x, upWeight), upBias) as tf.Tensor5D, weight, [1, 1, 1], [1, 1, 1]);
    return bn(y, training);
  };
}

/** Fully connected layer on [N, C] with PyTorch's default initialisation. */
export function linearLayer(store: ParamStore, name: string, cin: number, cout: number, group?: string): (x: tf.Tensor2D) => tf.Tensor2D {
  const weight = store.param(`${name}.weight`, [cin, cout], torchDefault(cin), group);
  const bias = store.param(`${name}.bias`, [cout], torchDefault(cin), group);
  return (x) => tf.add(tf.matMul(x, weight), bias) as tf.Tensor2D;
}

export function sequential(...layers: Layer[]): Layer {
  return (x, training) => layers.reduce((y, layer) => layer(y, training), x);
}
