/**
 * TSP's network and loss (Alwassel et al. 2021; METHODS.md §4): backbone → global average pool → f; action head
 * Linear(C, classes) on f; region head Linear(2C, 2) on concat(f, GVF), where GVF (the global video feature) comes with
 * the batch as target `gvf` (attached by the `gvf` stage from an HDF5 file). Loss = CE(action, ignoring −1) +
 * CE(region). Heads are in optimiser group "head" (TSP trains them at 20× the backbone's rate) and the stem in "stem"
 * (frozen with `groups: { stem: 0 }`). `regionHead: false` is TAC, the action-only baseline.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../core/rng.ts";
import type { Batch } from "../core/types.ts";
import { crossEntropy } from "../losses/prp.ts";
import { createBackbone } from "./backbones.ts";
import type { TspTaskConfig } from "./config.ts";
import { globalAvgPool } from "./heads.ts";
import { linearLayer } from "./layers.ts";
import { ParamStore } from "./params.ts";
import { clipFeatures } from "./prp.ts";
import { targetTensor, viewTensor, type Task } from "./task.ts";

export function createTspTask(config: TspTaskConfig, rng: Rng): Task {
  const store = new ParamStore(rng, config.backbone.init);
  const backbone = createBackbone(store, config.backbone);
  const action = linearLayer(store, "actionHead", backbone.channels, config.classes, "head");
  const region = config.regionHead ? linearLayer(store, "regionHead", 2 * backbone.channels, 2, "head") : undefined;
  return {
    kind: "tsp",
    store,
    loss(batch: Batch) {
      const f = globalAvgPool(backbone.forward(viewTensor(batch, "rgb"), true));
      const actionLoss = crossEntropy(action(f), targetTensor(batch, "action", "int32") as tf.Tensor1D);
      if (region === undefined) return { loss: actionLoss, terms: { action: actionLoss } };
      const gvf = targetTensor(batch, "gvf") as tf.Tensor2D;
      const regionLoss = crossEntropy(region(tf.concat([f, gvf], 1) as tf.Tensor2D), targetTensor(batch, "region", "int32") as tf.Tensor1D);
      const loss = tf.add(tf.mul(actionLoss, config.actionWeight), tf.mul(regionLoss, config.regionWeight)) as tf.Scalar;
      return { loss, terms: { action: actionLoss, region: regionLoss } };
    },
    features: (clips, protocol) => clipFeatures(backbone.forward(clips, false), protocol),
    heads(batch: Batch) {
      const f = globalAvgPool(backbone.forward(viewTensor(batch, "rgb"), false));
      const logits: Record<string, tf.Tensor2D> = { action: action(f) };
      if (region !== undefined && batch.targets.gvf !== undefined) logits.region = region(tf.concat([f, targetTensor(batch, "gvf") as tf.Tensor2D], 1) as tf.Tensor2D);
      return { features: f, logits };
    },
    stateTensors: () => new Map(),
    stateScalars: () => ({}),
    restoreScalars: () => undefined,
    dispose: () => store.dispose(),
  };
}
