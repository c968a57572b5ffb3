/**
 * Named parameters and buffers of a network, created with seeded initialisers (so two runs with one seed start from
 * the same weights on any backend) and grouped for the optimiser (learning-rate multipliers, freezing). Names are
 * dotted paths ("backbone.conv1.weight") and are the keys of checkpoints.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import type { Rng } from "../core/rng.ts";

export type Init =
  | { kind: "normal"; std: number }
  | { kind: "uniform"; bound: number }
  | { kind: "constant"; value: number };

export interface ParamInfo {
  variable: tf.Variable;
  /** Optimiser group ("default" unless a head asks for another, e.g. PRP's 10× final layer). */
  group: string;
}

export class ParamStore {
  readonly params = new Map<string, ParamInfo>();
  readonly buffers = new Map<string, tf.Variable>();

  readonly convInit: "torch" | "kaiming";

  /** @param convInit convolution weights: "kaiming" (normal, √(2/fan-out); unset) or "torch" (U(±1/√fan-in)); see backboneConfig.init. */
  constructor(
    private readonly rng: Rng,
    convInit?: "torch" | "kaiming",
  ) {
    this.convInit = convInit ?? "kaiming";
  }

  private values(shape: number[], init: Init): Float32Array {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (init.kind === "constant") data.fill(init.value);
    else if (init.kind === "normal") for (let i = 0; i < size; i += 1) data[i] = this.rng.normal() * init.std;
    else for (let i = 0; i < size; i += 1) data[i] = this.rng.uniform(-init.bound, init.bound);
    return data;
  }

  param(name: string, shape: number[], init: Init, group = "default"): tf.Variable {
    if (this.params.has(name) || this.buffers.has(name)) throw new ClipflowError("ConfigError", `parameter ${name} is defined twice`, { field: name });
    const variable = tf.variable(tf.tensor(this.values(shape, init), shape), true);
    this.params.set(name, { variable, group });
    return variable;
  }

  buffer(name: string, shape: number[], value: number): tf.Variable {
    if (this.params.has(name) || this.buffers.has(name)) throw new ClipflowError("ConfigError", `buffer ${name} is defined twice`, { field: name });
    const variable = tf.variable(tf.fill(shape, value), false);
    this.buffers.set(name, variable);
    return variable;
  }

  trainable(): tf.Variable[] {
    return [...this.params.values()].map((info) => info.variable);
  }

  /** Every tensor that makes the state: parameters then buffers, by name. */
  namedTensors(): Map<string, tf.Variable> {
    const all = new Map<string, tf.Variable>();
    for (const [name, info] of this.params) all.set(name, info.variable);
    for (const [name, variable] of this.buffers) all.set(name, variable);
    return all;
  }

  parameterCount(): number {
    let count = 0;
    for (const info of this.params.values()) count += info.variable.size;
    return count;
  }

  /** Copies every parameter and buffer value from another store with the same names and shapes. */
  copyFrom(other: ParamStore): void {
    const source = other.namedTensors();
    for (const [name, variable] of this.namedTensors()) {
      const from = source.get(name);
      if (from === undefined || from.shape.join("x") !== variable.shape.join("x")) {
        throw new ClipflowError("ConfigError", `cannot copy ${name}: the other network has ${from === undefined ? "no such tensor" : `shape ${from.shape.join("×")}`}`, { field: name });
      }
      variable.assign(from);
    }
  }

  dispose(): void {
    for (const variable of this.namedTensors().values()) variable.dispose();
    this.params.clear();
    this.buffers.clear();
  }
}

/** Kaiming normal, fan-out mode, ReLU gain: torchvision's initialisation for video ResNets and what we use for convs. */
export function kaimingOut(fanOut: number): Init {
  return { kind: "normal", std: Math.sqrt(2 / fanOut) };
}

/** A convolution's weight initialiser under the store's convInit (fan-in = cin·kernel volume, fan-out = cout·volume). */
export function convInit(store: ParamStore, cin: number, cout: number, volume: number): Init {
  return store.convInit === "torch" ? torchDefault(cin * volume) : kaimingOut(cout * volume);
}

/** PyTorch's default for Conv / Linear / ConvTranspose weights and biases: U(−1/√fanIn, 1/√fanIn). */
export function torchDefault(fanIn: number): Init {
  return { kind: "uniform", bound: 1 / Math.sqrt(fanIn) };
}
