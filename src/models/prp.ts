/**
 * PRP's network and loss (Yao et al., CVPR 2020; METHODS.md §1): a shared 3D encoder with the playback-rate classifier
 * and the slow-motion decoder; loss = motion-weighted reconstruction on real frames + λ·CE(rate). Batches come from the
 * dilatedSample stage: views target [B,32,H,W,3] (bytes, scaled to [0,1]; the encoder clip [B,16,H,W,3] is its even
 * frames, or view rgb when the stage emits it), motion [B,32,h,w,3]
 * (the DPAU map at cell resolution, resized here to H×W; a full-resolution map is used as it is), targets rate [B] and
 * flags [B,32].
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import type { Rng } from "../core/rng.ts";
import type { Batch } from "../core/types.ts";
import { crossEntropy, prpLoss } from "../losses/prp.ts";
import { createBackbone } from "./backbones.ts";
import type { PrpTaskConfig } from "./config.ts";
import { globalAvgPool, prpClassifier, prpDecoder } from "./heads.ts";
import { maxPool3d } from "./ops.ts";
import { ParamStore } from "./params.ts";
import { clipView, targetTensor, viewTensor, type Task } from "./task.ts";

/** The PRP evaluation feature (VCOP protocol): encoder output → maxpool(1,2,2) → flatten. CoCLR's: pooled average. */
export function clipFeatures(feature: tf.Tensor5D, protocol: "prp" | "coclr"): tf.Tensor2D {
  if (protocol === "coclr") return globalAvgPool(feature);
  // (a map already 1 pixel wide or high, e.g. S3D on 32×32 frames, is not pooled along that axis)
  const pooled = maxPool3d(feature, [1, Math.min(2, feature.shape[2]), Math.min(2, feature.shape[3])]);
  return pooled.reshape([pooled.shape[0], -1]) as tf.Tensor2D;
}

/**
 * The length of the runs over which every clip's map stays the same: the largest g dividing T such that frames
 * kg … kg + g − 1 of each clip are equal. DPAU's map is constant within a chunk of the target (32/s frames at rate s),
 * so a batch mixing rates up to 8 has runs of 4. Exact comparison; plain JS over the small cell maps.
 */
export function constantRun(data: ArrayLike<number>, shape: readonly number[]): number {
  const [b = 1, t = 1] = shape;
  const frame = shape.slice(2).reduce((n, d) => n * d, 1);
  // changes[t] = some clip's frame t differs from its frame t − 1
  const changes = new Array<boolean>(t).fill(false);
  for (let clip = 0; clip < b; clip++) {
    const base = clip * t * frame;
    for (let f = 1; f < t; f++) {
      if (changes[f]) continue;
      const at = base + f * frame;
      for (let i = 0; i < frame; i++) {
        if (data[at + i] !== data[at + i - frame]) {
          changes[f] = true;
          break;
        }
      }
    }
  }
  for (let g = t; g > 1; g--) {
    if (t % g !== 0) continue;
    let constant = true;
    for (let f = 1; f < t && constant; f++) if (f % g !== 0 && changes[f]) constant = false;
    if (constant) return g;
  }
  return 1;
}

/** Frames 0, k, 2k, … of each clip of a stacked [B, T, …] array, as a new array of the same kind. */
function framesAtStride<A extends Float32Array | Uint8Array>(data: A, shape: readonly number[], k: number): A {
  const [b = 1, t = 1] = shape;
  const frame = shape.slice(2).reduce((n, d) => n * d, 1);
  const per = Math.ceil(t / k);
  const out = new (data.constructor as new (length: number) => A)(b * per * frame);
  for (let clip = 0; clip < b; clip++) {
    for (let j = 0; j < per; j++) {
      const from = (clip * t + j * k) * frame;
      out.set(data.subarray(from, from + frame), (clip * per + j) * frame);
    }
  }
  return out;
}

/**
 * The motion weight at frame size, one frame per run of equal maps: the [B, T, h, w, C] cell maps (the batch's
 * "motion" view) resized bilinearly to H×W (align_corners = false, edges clamped: torch's interpolate and
 * `expandMotion`), frames 0, g, 2g, … of each clip only, g = `constantRun` → [B, T/g, H, W, C]; the loss applies each
 * to its g target frames. A map already at frame size is only thinned. Resizing the distinct maps only is what makes
 * the weight cheap: at 112² a batch of rates 1–8 resizes 8 maps per clip instead of 32 (0.34 instead of 1.3 ms per
 * clip on wasm, this function whole, in bench:pretext) and never holds a 32-frame full-resolution weight.
 */
export function motionWeight(motion: { data: Float32Array | Uint8Array; shape: readonly number[] }, height: number, width: number): tf.Tensor5D {
  const [b, t, h, w, c] = motion.shape as [number, number, number, number, number];
  const g = constantRun(motion.data, motion.shape);
  const picked = framesAtStride(motion.data, motion.shape, g);
  const kept = picked instanceof Float32Array ? picked : Float32Array.from(picked);
  return tf.tidy(() => {
    const cells = tf.tensor4d(kept, [(b * t) / g, h, w, c]);
    const resized = h === height && w === width ? cells : tf.image.resizeBilinear(cells, [height, width], false, true);
    return resized.reshape([b, t / g, height, width, c]);
  });
}

/**
 * The encoder's clip: view `rgb` when the batch has it, else the target's even frames (PRP's clip, every s-th frame of
 * the span, is exactly those: the target's stride is s/2, and at s = 1 its even frames are the real ones). The frames
 * are picked from the plain values before they become a tensor: wasm's strided slice of the float target took 72 ms
 * per clip at 112², this copy 0.05 ms.
 */
export function encoderClip(batch: Batch): tf.Tensor5D {
  if (batch.views.rgb !== undefined || batch.views.target === undefined) return viewTensor(batch, "rgb");
  const target = clipView(batch, "target");
  const [b, t, ...frame] = target.shape as [number, number, number, number, number];
  const data = framesAtStride(target.data, target.shape, 2);
  return viewTensor({ ...batch, views: { rgb: { data, shape: [b, Math.ceil(t / 2), ...frame], layout: target.layout } } }, "rgb");
}

export function createPrpTask(config: PrpTaskConfig, rng: Rng): Task {
  const store = new ParamStore(rng, config.backbone.init ?? "torch");
  const backbone = createBackbone(store, config.backbone);
  const classify = prpClassifier(store, backbone.channels, config.rates);
  const decode = config.reconstruction ? prpDecoder(store, backbone.channels) : undefined;
  return {
    kind: "prp",
    store,
    loss(batch: Batch) {
      const x = encoderClip(batch);
      const feature = backbone.forward(x, true);
      const logits = classify(feature, true);
      const labels = targetTensor(batch, "rate", "int32") as tf.Tensor1D;
      if (decode === undefined) {
        const classification = crossEntropy(logits, labels);
        return { loss: classification, terms: { classification } };
      }
      const target = viewTensor(batch, "target");
      const motion = clipView(batch, "motion");
      const [tb, tt, , , tc] = target.shape;
      const [mb, mt, , , mc] = motion.shape;
      if (mb !== tb || mt !== tt || mc !== tc) {
        throw new ClipflowError("StageError", `view "motion" has shape ${motion.shape.join("×")}, the target ${target.shape.join("×")}: batch, frames and channels must match`, { stage: "train", field: "views.motion" });
      }
      return prpLoss({
        reconstruction: decode(feature, true),
        target,
        weight: motionWeight(motion, x.shape[2], x.shape[3]),
        flags: targetTensor(batch, "flags") as tf.Tensor2D,
        logits,
        labels,
        lambda: config.lambda,
      });
    },
    features(clips, protocol) {
      return clipFeatures(backbone.forward(clips, false), protocol);
    },
    stateTensors: () => new Map(),
    stateScalars: () => ({}),
    restoreScalars: () => undefined,
    dispose: () => store.dispose(),
  };
}
