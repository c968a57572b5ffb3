/**
 * PRP's network and loss (Yao et al., CVPR 2020; METHODS.md §1): a shared 3D encoder with the playback-rate classifier
 * and the slow-motion decoder; loss = motion-weighted reconstruction on real frames + λ·CE(rate). Batches come from the
 * dilatedSample stage: views rgb [B,16,H,W,3] and target [B,32,H,W,3] (bytes, scaled to [0,1]), motion [B,32,h,w,3]
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
import { targetTensor, viewTensor, type Task } from "./task.ts";

/** The PRP evaluation feature (VCOP protocol): encoder output → maxpool(1,2,2) → flatten. CoCLR's: pooled average. */
export function clipFeatures(feature: tf.Tensor5D, protocol: "prp" | "coclr"): tf.Tensor2D {
  if (protocol === "coclr") return globalAvgPool(feature);
  // (a map already 1 pixel wide or high, e.g. S3D on 32×32 frames, is not pooled along that axis)
  const pooled = maxPool3d(feature, [1, Math.min(2, feature.shape[2]), Math.min(2, feature.shape[3])]);
  return pooled.reshape([pooled.shape[0], -1]) as tf.Tensor2D;
}

/**
 * The motion weight at frame size: [B, T, h, w, C] cell maps resized bilinearly to H×W (align_corners = false, edges
 * clamped: torch's interpolate and `expandMotion`), or the map itself when it already has the frame's size. On wasm
 * about 1.3 ms per 112² clip.
 */
export function motionWeight(cells: tf.Tensor5D, height: number, width: number): tf.Tensor5D {
  const [b, t, h, w, c] = cells.shape;
  if (h === height && w === width) return cells;
  const resized = tf.image.resizeBilinear(cells.reshape([b * t, h, w, c]) as tf.Tensor4D, [height, width], false, true);
  return resized.reshape([b, t, height, width, c]);
}

export function createPrpTask(config: PrpTaskConfig, rng: Rng): Task {
  const store = new ParamStore(rng);
  const backbone = createBackbone(store, config.backbone);
  const classify = prpClassifier(store, backbone.channels, config.rates);
  const decode = config.reconstruction ? prpDecoder(store, backbone.channels) : undefined;
  return {
    kind: "prp",
    store,
    loss(batch: Batch) {
      const x = viewTensor(batch, "rgb");
      const feature = backbone.forward(x, true);
      const logits = classify(feature, true);
      const labels = targetTensor(batch, "rate", "int32") as tf.Tensor1D;
      if (decode === undefined) {
        const classification = crossEntropy(logits, labels);
        return { loss: classification, terms: { classification } };
      }
      const target = viewTensor(batch, "target");
      const motion = viewTensor(batch, "motion");
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
