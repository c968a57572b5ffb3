/**
 * clipflow's own WebAssembly SIMD kernels for the wasm backend (sources in assembly/, compiled by AssemblyScript into
 * simdKernels.wasm; `npm run build:wasm`). tfjs's wasm backend runs batch normalisation as a dozen separate kernels
 * (statistics as products, then subtract, square, scale, shift, ReLU, and twice as many for the gradient), each a pass
 * over the activations plus a launch; these kernels make it two passes forward and two backward. Also max pooling
 * (keeping each maximum's position for the gradient) and the parameter updates (Adam, SGD, blends), one pass each.
 * The module imports tfjs's own wasm memory, so kernels read and write tensors where they lie, with no copies: a
 * tensor's address is its heap offset. The module has no data segment and no start function (a test checks), so
 * instantiating it writes nothing into that memory.
 */
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";

interface Exports {
  batchNormForward(x: number, rows: number, channels: number, gamma: number, beta: number, eps: number, relu: number, y: number, mean: number, variance: number, scratch: number): void;
  batchNormBackward(dy: number, y: number, x: number, rows: number, channels: number, gamma: number, mean: number, variance: number, eps: number, relu: number, dx: number, dGamma: number, dBeta: number, scratch: number): void;
  batchNormForwardPlanar(x: number, n: number, channels: number, plane: number, gamma: number, beta: number, eps: number, relu: number, y: number, mean: number, variance: number): void;
  batchNormBackwardPlanar(dy: number, y: number, x: number, n: number, channels: number, plane: number, gamma: number, mean: number, variance: number, eps: number, relu: number, dx: number, dGamma: number, dBeta: number, scratch: number): void;
  maxPoolForward(x: number, n: number, t: number, h: number, w: number, channels: number, kt: number, kh: number, kw: number, st: number, sh: number, sw: number, pt: number, ph: number, pw: number, to: number, ho: number, wo: number, y: number, index: number): void;
  maxPoolBackward(dy: number, index: number, outputs: number, inputs: number, channels: number, dx: number): void;
  adamStep(theta: number, grad: number, m: number, v: number, n: number, lr: number, beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, c1: number, c2: number, eps: number, l2: number, decay: number, thetaOut: number, mOut: number, vOut: number): void;
  sgdStep(theta: number, grad: number, buf: number, n: number, lr: number, weightDecay: number, momentum: number, first: number, thetaOut: number, bufOut: number): void;
  blend(a: number, wa: number, b: number, wb: number, n: number, out: number): void;
}

/** Adam's hyper-parameters for one update (see optim.ts): c1, c2 are the bias corrections 1 − βᵗ. */
export interface AdamStep {
  lr: number;
  betas: readonly [number, number];
  c1: number;
  c2: number;
  eps: number;
  /** Weight decay added to the gradient (torch.optim.Adam); 0 when decoupled. */
  l2: number;
  /** lr·wd when the decay is decoupled (AdamW); else 0. */
  decay: number;
}

/** The part of the WebAssembly JS API used here (this project's TypeScript lib has no DOM types). */
interface WebAssemblyApi {
  Memory: abstract new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WASM = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;

interface WasmBackend {
  wasm: { asm?: { memory?: object }; _malloc(bytes: number): number; _free(ptr: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32" | "int32"): tf.TensorInfo;
}

export const SIMD_KERNELS_FILE = new URL("./simdKernels.wasm", import.meta.url);

export class SimdKernels {
  private scratch = 0;
  private scratchBytes = 0;

  private constructor(
    private readonly backend: WasmBackend,
    private readonly kernels: Exports,
  ) {}

  /** Instantiates the kernels on the active tfjs backend's memory; a string says why they cannot run there. */
  static load(): SimdKernels | string {
    const backend = tf.backend() as unknown as Partial<WasmBackend>;
    const memory = backend.wasm?.asm?.memory;
    if (backend.dataIdMap === undefined || typeof backend.makeOutput !== "function") return "the backend is not wasm";
    if (!(memory instanceof WASM.Memory)) return "tfjs's wasm memory is not reachable (backend.wasm.asm.memory)";
    if (!tf.env().getBool("WASM_HAS_SIMD_SUPPORT")) return "this runtime has no WebAssembly SIMD";
    try {
      const module = new WASM.Module(readFileSync(SIMD_KERNELS_FILE));
      const instance = new WASM.Instance(module, { env: { memory } });
      return new SimdKernels(backend as WasmBackend, instance.exports as unknown as Exports);
    } catch (error) {
      return error instanceof Error ? error.message.split("\n")[0]! : String(error);
    }
  }

  private address(t: tf.TensorInfo): number {
    const data = this.backend.dataIdMap.get(t.dataId);
    if (data === undefined || (t.dtype !== "float32" && t.dtype !== "int32")) throw new Error(`simd kernels: a ${t.dtype} tensor not on the wasm heap`);
    return data.memoryOffset;
  }

  /** Caller-free scratch space of at least `bytes`, 16-byte aligned (kept and grown; a few kB). */
  private scratchOf(bytes: number): number {
    if (bytes > this.scratchBytes) {
      if (this.scratch !== 0) this.backend.wasm._free(this.scratch);
      this.scratchBytes = Math.max(bytes, 2 * this.scratchBytes, 4096);
      this.scratch = this.backend.wasm._malloc(this.scratchBytes);
    }
    return this.scratch;
  }

  private tensor(info: tf.TensorInfo): tf.Tensor {
    return tf.engine().makeTensorFromTensorInfo(info);
  }

  /**
   * Training-mode batch normalisation over every axis but the channels' (the last, or the second for a channel-first
   * [n, c, t, h, w] tensor): y (ReLU'd if asked), batch mean, biased variance.
   */
  batchNormForward(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, relu: boolean, channelsFirst = false): { y: tf.Tensor; mean: tf.Tensor; variance: tf.Tensor } {
    const channels = channelsFirst ? x.shape[1]! : x.shape[x.shape.length - 1]!;
    const rows = x.size / channels;
    // outputs first: an allocation may grow (and move views of) the heap, never the offsets
    const y = this.backend.makeOutput([...x.shape], "float32");
    const mean = this.backend.makeOutput([channels], "float32");
    const variance = this.backend.makeOutput([channels], "float32");
    const [xAt, gAt, bAt, yAt, mAt, vAt] = [x, gamma, beta, y, mean, variance].map((t) => this.address(t)) as [number, number, number, number, number, number];
    if (channelsFirst) this.kernels.batchNormForwardPlanar(xAt, x.shape[0]!, channels, rows / x.shape[0]!, gAt, bAt, eps, relu ? 1 : 0, yAt, mAt, vAt);
    else this.kernels.batchNormForward(xAt, rows, channels, gAt, bAt, eps, relu ? 1 : 0, yAt, mAt, vAt, this.scratchOf(40 * channels + 16));
    return { y: this.tensor(y), mean: this.tensor(mean), variance: this.tensor(variance) };
  }

  /** The gradient of batchNormForward: dx, dγ, dβ from dy, the forward's y (for the ReLU mask), x and statistics. */
  batchNormBackward(dy: tf.Tensor, y: tf.Tensor, x: tf.Tensor, gamma: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, eps: number, relu: boolean, channelsFirst = false): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const channels = channelsFirst ? x.shape[1]! : x.shape[x.shape.length - 1]!;
    const rows = x.size / channels;
    const dx = this.backend.makeOutput([...x.shape], "float32");
    const dGamma = this.backend.makeOutput([channels], "float32");
    const dBeta = this.backend.makeOutput([channels], "float32");
    const at = [dy, y, x, gamma, mean, variance, dx, dGamma, dBeta].map((t) => this.address(t)) as number[];
    const [dyAt, yAt, xAt, gAt, mAt, vAt, dxAt, dgAt, dbAt] = at as [number, number, number, number, number, number, number, number, number];
    if (channelsFirst) this.kernels.batchNormBackwardPlanar(dyAt, yAt, xAt, x.shape[0]!, channels, rows / x.shape[0]!, gAt, mAt, vAt, eps, relu ? 1 : 0, dxAt, dgAt, dbAt, this.scratchOf(16));
    else this.kernels.batchNormBackward(dyAt, yAt, xAt, rows, channels, gAt, mAt, vAt, eps, relu ? 1 : 0, dxAt, dgAt, dbAt, this.scratchOf(40 * channels + 16));
    return [this.tensor(dx), this.tensor(dGamma), this.tensor(dBeta)];
  }

  /**
   * Max pooling of x [n, t, h, w, C] with window, stride and padding along (t, h, w) (PyTorch's MaxPool3d, floor
   * mode): y [n, to, ho, wo, C] and, for the gradient, the input position of each output's maximum (int32, y's shape).
   */
  maxPoolForward(x: tf.Tensor5D, window: readonly number[], stride: readonly number[], pad: readonly number[], out: readonly number[]): { y: tf.Tensor5D; index: tf.Tensor5D } {
    const [n, t, h, w, channels] = x.shape;
    const shape = [n, out[0]!, out[1]!, out[2]!, channels];
    const y = this.backend.makeOutput(shape, "float32");
    const index = this.backend.makeOutput(shape, "int32");
    this.kernels.maxPoolForward(this.address(x), n, t, h, w, channels, window[0]!, window[1]!, window[2]!, stride[0]!, stride[1]!, stride[2]!, pad[0]!, pad[1]!, pad[2]!, out[0]!, out[1]!, out[2]!, this.address(y), this.address(index));
    return { y: this.tensor(y) as tf.Tensor5D, index: this.tensor(index) as tf.Tensor5D };
  }

  /** The gradient of maxPoolForward: dy added into zeros of `inputShape` at each output's maximum. */
  maxPoolBackward(dy: tf.Tensor, index: tf.Tensor, inputShape: readonly number[]): tf.Tensor {
    const channels = inputShape[4]!;
    const dx = this.backend.makeOutput([...inputShape], "float32");
    this.kernels.maxPoolBackward(this.address(dy), this.address(index), dy.size / channels, inputShape.reduce((a, b) => a * b, 1) / channels, channels, this.address(dx));
    return this.tensor(dx);
  }

  private like(t: tf.Tensor): tf.TensorInfo {
    return this.backend.makeOutput([...t.shape], "float32");
  }

  /** One Adam update of a parameter: the new θ, m and v (fresh tensors; the inputs are left as they are). */
  adamStep(theta: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, h: AdamStep): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const out = [this.like(theta), this.like(theta), this.like(theta)] as const;
    const [b1, b2] = h.betas;
    this.kernels.adamStep(this.address(theta), this.address(grad), this.address(m), this.address(v), theta.size, h.lr, b1, 1 - b1, b2, 1 - b2, h.c1, h.c2, h.eps, h.l2, h.decay, this.address(out[0]), this.address(out[1]), this.address(out[2]));
    return [this.tensor(out[0]), this.tensor(out[1]), this.tensor(out[2])];
  }

  /** One SGD update of a parameter: the new θ and, with momentum, the new buffer (`first`: buffer = gradient). */
  sgdStep(theta: tf.Tensor, grad: tf.Tensor, buf: tf.Tensor | undefined, lr: number, weightDecay: number, momentum: number, first: boolean): [tf.Tensor, tf.Tensor | undefined] {
    const next = this.like(theta);
    const nextBuf = momentum > 0 ? this.like(theta) : undefined;
    const bufAt = buf === undefined || first ? 0 : this.address(buf);
    this.kernels.sgdStep(this.address(theta), this.address(grad), bufAt, theta.size, lr, weightDecay, momentum, first ? 1 : 0, this.address(next), nextBuf === undefined ? 0 : this.address(nextBuf));
    return [this.tensor(next), nextBuf === undefined ? undefined : this.tensor(nextBuf)];
  }

  /** a·wa + b·wb, element-wise (a and b of one shape). */
  blend(a: tf.Tensor, wa: number, b: tf.Tensor, wb: number): tf.Tensor {
    const out = this.like(a);
    this.kernels.blend(this.address(a), wa, this.address(b), wb, a.size, this.address(out));
    return this.tensor(out);
  }
}
