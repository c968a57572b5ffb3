/**
 * Linear probe on frozen features, CoCLR protocol (METHODS.md §5): L2-normalise → BatchNorm1d (batch statistics in
 * training, running statistics at test) → Linear, trained with SGD (momentum 0.9, lr 0.1, weight decay 1e-3) under a
 * multi-step schedule (×0.1 at 60% and 80% of the epochs), softmax cross-entropy. Plain typed-array maths: the probe is
 * tiny and needs no tensor backend. Deterministic given the seed (shuffling and initialisation).
 */
import { ClipflowError } from "../core/errors.ts";
import { rngFromSeed } from "../core/rng.ts";
import { normalizeRows, type FeatureSet } from "./retrieval.ts";

export interface LinearProbeOptions {
  epochs?: number;
  lr?: number;
  weightDecay?: number;
  momentum?: number;
  batchSize?: number;
  /** Epoch fractions where the learning rate is multiplied by 0.1. */
  milestones?: readonly number[];
  seed?: number;
}

export interface LinearProbeResult {
  accuracy: number;
  trainAccuracy: number;
  classes: number;
  finalLoss: number;
  /** The predicted class of every test row. */
  predictions: number[];
}

const EPS = 1e-5;

export function linearProbe(train: FeatureSet, test: FeatureSet, options: LinearProbeOptions = {}): LinearProbeResult {
  const epochs = options.epochs ?? 100;
  const baseLr = options.lr ?? 0.1;
  const weightDecay = options.weightDecay ?? 1e-3;
  const momentum = options.momentum ?? 0.9;
  const batchSize = options.batchSize ?? 64;
  const milestones = (options.milestones ?? [0.6, 0.8]).map((f) => Math.round(f * epochs));
  const rng = rngFromSeed(options.seed ?? 0);
  const { dim } = train;
  if (test.dim !== dim) throw new ClipflowError("ConfigError", `train features have ${dim} dims, test features ${test.dim}`, { field: "dim" });
  const n = train.labels.length;
  if (n < 2) throw new ClipflowError("ConfigError", "a linear probe needs at least two training videos");
  let classes = 0;
  for (const set of [train, test]) {
    for (let i = 0; i < set.labels.length; i++) {
      const label = set.labels[i] as number;
      if (!Number.isInteger(label) || label < 0) throw new ClipflowError("ConfigError", `label ${label} of video ${i} is not a class index`, { field: "labels" });
      classes = Math.max(classes, label + 1);
    }
  }
  const x = normalizeRows(train, false);
  const xTest = normalizeRows(test, false);
  // parameters: BN gamma/beta, running stats, W [classes, dim], b [classes]
  const gamma = new Float64Array(dim).fill(1);
  const beta = new Float64Array(dim);
  const runMean = new Float64Array(dim);
  const runVar = new Float64Array(dim).fill(1);
  const weight = new Float64Array(classes * dim);
  const bias = new Float64Array(classes);
  const bound = 1 / Math.sqrt(dim);
  for (let i = 0; i < weight.length; i++) weight[i] = rng.uniform(-bound, bound);
  for (let c = 0; c < classes; c++) bias[c] = rng.uniform(-bound, bound);
  const params = [gamma, beta, weight, bias];
  const velocity = params.map((p) => new Float64Array(p.length));
  const decays = [true, true, true, true];
  let finalLoss = Number.NaN;

  for (let epoch = 0; epoch < epochs; epoch++) {
    const lr = baseLr * 0.1 ** milestones.filter((m) => epoch >= m).length;
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    let lossSum = 0;
    for (let start = 0; start < n; start += batchSize) {
      const idx = order.slice(start, start + batchSize);
      if (idx.length < 2) continue; // batch norm needs two samples
      const m = idx.length;
      const mean = new Float64Array(dim);
      const variance = new Float64Array(dim);
      for (const i of idx) for (let d = 0; d < dim; d++) mean[d] = (mean[d] as number) + (x[i * dim + d] as number) / m;
      for (const i of idx) for (let d = 0; d < dim; d++) variance[d] = (variance[d] as number) + ((x[i * dim + d] as number) - (mean[d] as number)) ** 2 / m;
      for (let d = 0; d < dim; d++) {
        runMean[d] = 0.9 * (runMean[d] as number) + 0.1 * (mean[d] as number);
        runVar[d] = 0.9 * (runVar[d] as number) + 0.1 * ((variance[d] as number) * m) / (m - 1);
      }
      const invStd = variance.map((v) => 1 / Math.sqrt(v + EPS));
      const xhat = new Float64Array(m * dim);
      const h = new Float64Array(m * dim);
      idx.forEach((i, r) => {
        for (let d = 0; d < dim; d++) {
          const value = ((x[i * dim + d] as number) - (mean[d] as number)) * (invStd[d] as number);
          xhat[r * dim + d] = value;
          h[r * dim + d] = (gamma[d] as number) * value + (beta[d] as number);
        }
      });
      const gradW = new Float64Array(weight.length);
      const gradB = new Float64Array(classes);
      const gradH = new Float64Array(m * dim);
      const logits = new Float64Array(classes);
      for (let r = 0; r < m; r++) {
        let maxLogit = -Infinity;
        for (let c = 0; c < classes; c++) {
          let z = bias[c] as number;
          for (let d = 0; d < dim; d++) z += (weight[c * dim + d] as number) * (h[r * dim + d] as number);
          logits[c] = z;
          if (z > maxLogit) maxLogit = z;
        }
        let sum = 0;
        for (let c = 0; c < classes; c++) sum += Math.exp((logits[c] as number) - maxLogit);
        const label = train.labels[idx[r] as number] as number;
        lossSum += -((logits[label] as number) - maxLogit - Math.log(sum));
        for (let c = 0; c < classes; c++) {
          const g = (Math.exp((logits[c] as number) - maxLogit) / sum - (c === label ? 1 : 0)) / m;
          gradB[c] = (gradB[c] as number) + g;
          for (let d = 0; d < dim; d++) {
            gradW[c * dim + d] = (gradW[c * dim + d] as number) + g * (h[r * dim + d] as number);
            gradH[r * dim + d] = (gradH[r * dim + d] as number) + g * (weight[c * dim + d] as number);
          }
        }
      }
      const gradGamma = new Float64Array(dim);
      const gradBeta = new Float64Array(dim);
      for (let r = 0; r < m; r++) {
        for (let d = 0; d < dim; d++) {
          gradGamma[d] = (gradGamma[d] as number) + (gradH[r * dim + d] as number) * (xhat[r * dim + d] as number);
          gradBeta[d] = (gradBeta[d] as number) + (gradH[r * dim + d] as number);
        }
      }
      const grads = [gradGamma, gradBeta, gradW, gradB];
      params.forEach((param, p) => {
        const grad = grads[p] as Float64Array;
        const vel = velocity[p] as Float64Array;
        for (let i = 0; i < param.length; i++) {
          const g = (grad[i] as number) + (decays[p] ? weightDecay * (param[i] as number) : 0);
          vel[i] = momentum * (vel[i] as number) + g;
          param[i] = (param[i] as number) - lr * (vel[i] as number);
        }
      });
    }
    finalLoss = lossSum / n;
  }

  const predict = (features: Float32Array, count: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      let best = -Infinity;
      let arg = -1;
      for (let c = 0; c < classes; c++) {
        let z = bias[c] as number;
        for (let d = 0; d < dim; d++) {
          const value = (((features[i * dim + d] as number) - (runMean[d] as number)) / Math.sqrt((runVar[d] as number) + EPS)) * (gamma[d] as number) + (beta[d] as number);
          z += (weight[c * dim + d] as number) * value;
        }
        if (z > best) {
          best = z;
          arg = c;
        }
      }
      out.push(arg);
    }
    return out;
  };
  const accuracyOf = (predicted: number[], labels: ArrayLike<number>): number =>
    labels.length === 0 ? Number.NaN : predicted.filter((c, i) => c === labels[i]).length / labels.length;
  const predictions = predict(xTest, test.labels.length);
  return { accuracy: accuracyOf(predictions, test.labels), trainAccuracy: accuracyOf(predict(x, n), train.labels), classes, finalLoss, predictions };
}
