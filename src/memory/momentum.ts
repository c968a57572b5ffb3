/**
 * Momentum (EMA) encoder (MoCo; VTDL's key encoder, METHODS.md §2): θ_k ← m·θ_k + (1 − m)·θ_q after every optimiser
 * step, parameters only (BatchNorm running statistics are the key encoder's own), starting as a copy of the query.
 */
import * as tf from "@tensorflow/tfjs";
import { blend } from "../models/ops.ts";
import type { ParamStore } from "../models/params.ts";

export function momentumUpdate(key: ParamStore, query: ParamStore, momentum: number): void {
  tf.tidy(() => {
    for (const [name, info] of key.params) {
      const source = query.params.get(name);
      if (source === undefined) continue;
      info.variable.assign(blend(info.variable, momentum, source.variable, 1 - momentum));
    }
  });
}
