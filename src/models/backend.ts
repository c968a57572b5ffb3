/**
 * TensorFlow.js backend selection (DESIGN.md §6): @tensorflow/tfjs-node-gpu when it loads and sees a GPU, else
 * @tensorflow/tfjs-node, else the wasm backend (XNNPACK, SIMD), else the pure-JS cpu backend. The native packages are
 * optional: their install scripts download libtensorflow, which fails offline, so each is tried with a dynamic import
 * and its absence is a reason in the log, never an error. A user with a CUDA machine enables the GPU path with
 * `npm install @tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN 8.1, as that package documents) and nothing else.
 */
import { availableParallelism } from "node:os";
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";
import { OrtConvEngine } from "./ortConv.ts";
import { SimdKernels } from "./simdKernels.ts";

export type BackendName = "auto" | "tensorflow" | "wasm" | "cpu";
/** Where the 3D convolutions of the wasm and cpu backends run (see src/models/ortConv.ts); "auto": ONNX Runtime if installed. */
export type ConvolutionEngine = "auto" | "onnxruntime" | "tfjs";

export interface BackendOptions {
  convolutions?: ConvolutionEngine;
  /** ONNX Runtime's threads per trainer (default: all cores; a data-parallel replica halves it). */
  threads?: number;
  /** clipflow's own SIMD kernels on wasm (src/models/simdKernels.ts; default true): false runs tfjs's ops instead. */
  simdKernels?: boolean;
}

export interface BackendChoice {
  name: "tensorflow" | "wasm" | "cpu";
  /** Human-readable reasons for the choice, one per candidate tried. */
  reasons: string[];
  /** Whether tf.conv3d is fast here (native) or must be expressed with conv2d (wasm, cpu). */
  nativeConv3d: boolean;
  gpu: boolean;
  /** Set when convolutions run on ONNX Runtime. */
  ort?: OrtConvEngine | undefined;
  /** The convolution engine asked for when the choice was made. */
  convolutions: ConvolutionEngine;
  /** Set when clipflow's SIMD kernels run batch normalisation, max pooling and parameter updates (wasm backend). */
  simd?: SimdKernels | undefined;
}

let current: BackendChoice | undefined;

async function tryNative(pkg: string): Promise<string | undefined> {
  try {
    await import(/* @vite-ignore */ pkg);
    return undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_MODULE_NOT_FOUND") return "not installed";
    return error instanceof Error ? error.message.split("\n")[0] : String(error);
  }
}

/**
 * Picks and initialises a backend once per process (per thread); later calls return the first choice unless `name`
 * or the convolution engine asked for differ.
 */
export async function selectBackend(name: BackendName = "auto", log?: (line: string) => void, options: BackendOptions = {}): Promise<BackendChoice> {
  const convolutions = options.convolutions ?? "auto";
  const simd = options.simdKernels ?? true;
  if (current !== undefined && (name === "auto" || name === current.name)) {
    if (convolutions === current.convolutions && simd === (current.simd !== undefined || current.name !== "wasm")) return current;
    current.ort?.dispose();
    current = { ...current, ...convolutionEngine(current.name, convolutions, options.threads, current.reasons.filter((r) => !r.startsWith("convolutions:") && !r.startsWith("kernels:"))) };
    current = { ...current, ...kernelChoice(current, simd) };
    log?.(`backend: ${describe(current)}`);
    return current;
  }
  const reasons: string[] = [];
  const candidates: Array<"gpu" | "node" | "wasm" | "cpu"> =
    name === "auto" ? ["gpu", "node", "wasm", "cpu"] : name === "tensorflow" ? ["gpu", "node"] : [name];
  for (const candidate of candidates) {
    if (candidate === "gpu" || candidate === "node") {
      const pkg = candidate === "gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node";
      const failure = await tryNative(pkg);
      if (failure !== undefined) {
        reasons.push(`${pkg}: ${failure === "not installed" ? failure : `not usable (${failure})`}`);
        continue;
      }
      if (await tf.setBackend("tensorflow")) {
        await tf.ready();
        reasons.push(`${pkg}: loaded`);
        current = { name: "tensorflow", reasons, nativeConv3d: true, gpu: candidate === "gpu", convolutions };
        break;
      }
      reasons.push(`${pkg}: loaded but the tensorflow backend did not initialise`);
      continue;
    }
    if (candidate === "wasm") {
      await import("@tensorflow/tfjs-backend-wasm");
      shareIdentityOnWasm();
    }
    try {
      if (await tf.setBackend(candidate)) {
        await tf.ready();
        reasons.push(
          candidate === "wasm"
            ? `wasm: XNNPACK${tf.env().getBool("WASM_HAS_SIMD_SUPPORT") ? " with SIMD" : " without SIMD"}, one thread (wasm threads do not run in Node)`
            : "cpu: pure JavaScript kernels (slow; the fallback of last resort)",
        );
        current = { name: candidate, reasons, nativeConv3d: false, gpu: false, convolutions };
        break;
      }
      reasons.push(`${candidate}: did not initialise`);
    } catch (error) {
      reasons.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (current === undefined) throw new ClipflowError("ConfigError", `no tensor backend could start: ${reasons.join("; ")}`, { field: "backend" });
  current = { ...current, ...convolutionEngine(current.name, convolutions, options.threads, current.reasons) };
  current = { ...current, ...kernelChoice(current, simd) };
  log?.(`backend: ${describe(current)}`);
  return current;
}

function describe(choice: BackendChoice): string {
  return `${choice.name}${choice.ort === undefined ? "" : ` + ONNX Runtime convolutions (${threadCount(choice.ort.threads)})`} (${choice.reasons.join("; ")})`;
}

/** Where convolutions run on a backend; an explicit "onnxruntime" that cannot load is an error, "auto" falls back. */
function convolutionEngine(backend: BackendChoice["name"], asked: ConvolutionEngine, threads: number | undefined, reasons: string[]): Pick<BackendChoice, "ort" | "reasons" | "convolutions"> {
  const done = (ort: OrtConvEngine | undefined, reason: string) => ({ ort, reasons: [...reasons, `convolutions: ${reason}`], convolutions: asked });
  if (backend === "tensorflow") return done(undefined, "TensorFlow's native conv3d");
  if (asked === "tfjs") return done(undefined, `tfjs ${backend} kernels (asked for)`);
  const engine = OrtConvEngine.load(threads ?? availableParallelism());
  if (typeof engine !== "string") return done(engine, `onnxruntime-node (MLAS, ${threadCount(engine.threads)})`);
  if (asked === "onnxruntime") throw new ClipflowError("ConfigError", `train.convolutions: onnxruntime-node is not usable (${engine}); install it with \`npm install onnxruntime-node\` or set "convolutions": "auto"`, { field: "train.convolutions" });
  return done(undefined, `tfjs ${backend} kernels (onnxruntime-node: ${engine})`);
}

/** Whether clipflow's SIMD kernels run on this backend (wasm only), with the reason in the log. */
function kernelChoice(choice: BackendChoice, asked: boolean): Pick<BackendChoice, "simd" | "reasons"> {
  if (choice.name !== "wasm") return { simd: undefined, reasons: choice.reasons };
  if (!asked) return { simd: undefined, reasons: [...choice.reasons, "kernels: tfjs wasm ops (asked for)"] };
  const simd = SimdKernels.load();
  if (typeof simd === "string") return { simd: undefined, reasons: [...choice.reasons, `kernels: tfjs wasm ops (clipflow's SIMD kernels: ${simd})`] };
  return { simd, reasons: [...choice.reasons, "kernels: clipflow's SIMD batch normalisation, max pooling and parameter updates"] };
}

/**
 * wasm's Identity kernel copies its input, and tfjs clones (Identity) every tensor an op saves for its gradient: a
 * training step copied each saved activation once more (930 copies per step of a small PRP network). The cpu and webgl
 * backends share the storage instead (tensors are immutable; a variable's assign swaps storage, it never writes in
 * place); this does the same on wasm, with the reference count the wasm backend keeps for reshapes.
 */
function shareIdentityOnWasm(): void {
  const original = tf.getKernel("Identity", "wasm");
  if (original === undefined || (original as { shared?: boolean }).shared === true) return;
  tf.unregisterKernel("Identity", "wasm");
  const config = {
    kernelName: "Identity",
    backendName: "wasm",
    shared: true,
    kernelFunc: (args: { inputs: { x?: tf.TensorInfo }; backend: unknown; attrs?: unknown }) => {
      const x = args.inputs.x!;
      if (x.dtype === "string") return (original.kernelFunc as (a: unknown) => tf.TensorInfo)(args);
      (args.backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  };
  tf.registerKernel(config as unknown as tf.KernelConfig);
}

/** The backend chosen so far (selectBackend must have run). */
export function activeBackend(): BackendChoice {
  if (current === undefined) throw new ClipflowError("ConfigError", "selectBackend() has not run yet", { field: "backend" });
  return current;
}

/** clipflow's SIMD kernels when a backend has been chosen and they run on it; else undefined (tfjs ops are used). */
export function activeSimd(): SimdKernels | undefined {
  return current?.simd;
}

function threadCount(threads: number): string {
  return `${threads} thread${threads === 1 ? "" : "s"}`;
}
