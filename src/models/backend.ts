/**
 * TensorFlow.js backend selection (DESIGN.md §6): @tensorflow/tfjs-node-gpu when it loads and sees a GPU, else
 * @tensorflow/tfjs-node, else the wasm backend (XNNPACK, SIMD), else the pure-JS cpu backend. The native packages are
 * optional: their install scripts download libtensorflow, which fails offline, so each is tried with a dynamic import
 * and its absence is a reason in the log, never an error. A user with a CUDA machine enables the GPU path with
 * `npm install @tensorflow/tfjs-node-gpu` (CUDA 11.2 + cuDNN 8.1, as that package documents) and nothing else.
 */
import * as tf from "@tensorflow/tfjs";
import { ClipflowError } from "../core/errors.ts";

export type BackendName = "auto" | "tensorflow" | "wasm" | "cpu";

export interface BackendChoice {
  name: "tensorflow" | "wasm" | "cpu";
  /** Human-readable reasons for the choice, one per candidate tried. */
  reasons: string[];
  /** Whether tf.conv3d is fast here (native) or must be expressed with conv2d (wasm, cpu). */
  nativeConv3d: boolean;
  gpu: boolean;
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

/** Picks and initialises a backend once per process; later calls return the first choice unless `name` differs. */
export async function selectBackend(name: BackendName = "auto", log?: (line: string) => void): Promise<BackendChoice> {
  if (current !== undefined && (name === "auto" || name === current.name)) return current;
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
        current = { name: "tensorflow", reasons, nativeConv3d: true, gpu: candidate === "gpu" };
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
        current = { name: candidate, reasons, nativeConv3d: false, gpu: false };
        break;
      }
      reasons.push(`${candidate}: did not initialise`);
    } catch (error) {
      reasons.push(`${candidate}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (current === undefined) throw new ClipflowError("ConfigError", `no tensor backend could start: ${reasons.join("; ")}`, { field: "backend" });
  log?.(`backend: ${current.name} (${current.reasons.join("; ")})`);
  return current;
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
