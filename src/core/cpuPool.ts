/**
 * CpuPool: where CPU-heavy per-sample work runs. Stages call `ctx.cpu.run(kernel, input)` and never know whether the
 * kernel runs inline (same thread; tests, debugging, tiny data) or on a piscina pool of worker threads. Buffers cross
 * the thread boundary by transfer: after `run`, the input's whole-buffer typed arrays are detached in the caller.
 */
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { Piscina } from "piscina";
import { tasks, type TaskInput, type TaskName, type TaskOutput } from "../workers/tasks.ts";
import { ClipflowError, errorFromRecord, isAbortError, type ErrorRecord } from "./errors.ts";
import { transferablesOf } from "./transfer.ts";

export interface RunKernelOptions {
  signal?: AbortSignal | undefined;
}

export interface CpuPool {
  readonly kind: "inline" | "piscina";
  /** Worker threads (0 for inline). */
  readonly threads: number;
  run<K extends TaskName>(kernel: K, input: TaskInput<K>, options?: RunKernelOptions): Promise<TaskOutput<K>>;
  /** Waits for running tasks, then stops the threads. Idempotent. */
  close(): Promise<void>;
}

function kernelError(kernel: string, error: unknown): ClipflowError {
  if (error instanceof ClipflowError) return error;
  if (isAbortError(error)) return new ClipflowError("Cancelled", `kernel ${kernel} cancelled`, { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new ClipflowError("KernelError", `kernel ${kernel} failed: ${message}`, { cause: error });
}

/** Runs kernels on the calling thread. */
export function inlinePool(): CpuPool {
  return {
    kind: "inline",
    threads: 0,
    async run(kernel, input, options) {
      options?.signal?.throwIfAborted();
      try {
        return await (tasks[kernel] as (value: unknown) => TaskOutput<typeof kernel> | Promise<TaskOutput<typeof kernel>>)(input);
      } catch (error) {
        throw kernelError(kernel, error);
      }
    },
    async close() {},
  };
}

export interface PiscinaPoolOptions {
  /** Worker threads; default: the machine's cores. */
  threads?: number | undefined;
  /** Called for errors that belong to no task (a worker that died outside a task). */
  onError?: ((error: Error) => void) | undefined;
}

const workerEntry = fileURLToPath(new URL("../workers/bootstrap.mjs", import.meta.url));

/** Runs kernels on a piscina pool of worker threads, one kernel at a time per thread. */
export function piscinaPool(options: PiscinaPoolOptions = {}): CpuPool {
  const threads = Math.max(1, options.threads ?? availableParallelism());
  const pool = new Piscina({
    filename: workerEntry,
    minThreads: threads,
    maxThreads: threads,
    concurrentTasksPerWorker: 1,
    idleTimeout: 60_000,
  });
  pool.on("error", (error: Error) => {
    if (options.onError) options.onError(error);
    else process.emitWarning(`clipflow worker pool: ${error.message}`);
  });
  let closing: Promise<void> | undefined;
  return {
    kind: "piscina",
    threads,
    async run(kernel, input, runOptions) {
      if (closing) throw new ClipflowError("Cancelled", `kernel ${kernel}: the pool is closed`);
      const signal = runOptions?.signal;
      if (signal?.aborted) throw kernelError(kernel, signal.reason ?? new DOMException("aborted", "AbortError"));
      // The signal is NOT given to piscina: on abort piscina terminates the worker thread, and terminating a thread
      // inside a synchronous native call (libav via node-av) aborts the whole process (napi_throw FATAL ERROR). An
      // aborted task is abandoned instead: the caller is released at once, the worker finishes its (time-limited)
      // task and is reused.
      const task = pool.run({ kernel, input }, { transferList: transferablesOf(input) });
      let result: unknown;
      try {
        result =
          signal === undefined
            ? await task
            : await new Promise((resolve, reject) => {
                const onAbort = () => {
                  task.catch(() => undefined);
                  reject(new ClipflowError("Cancelled", `kernel ${kernel} cancelled`, { cause: signal.reason }));
                };
                signal.addEventListener("abort", onAbort, { once: true });
                task.then(
                  (value) => {
                    signal.removeEventListener("abort", onAbort);
                    resolve(value);
                  },
                  (error: unknown) => {
                    signal.removeEventListener("abort", onAbort);
                    reject(error);
                  },
                );
              });
      } catch (error) {
        throw kernelError(kernel, error);
      }
      const failure = (result as { clipflowError?: ErrorRecord } | null)?.clipflowError;
      if (failure !== undefined) throw errorFromRecord(failure);
      return result as TaskOutput<typeof kernel>;
    },
    close() {
      closing ??= pool.close();
      return closing;
    },
  };
}

/** `workers` = 0 → inline; otherwise a piscina pool with that many threads (undefined = the machine's cores). */
export function createCpuPool(workers: number | undefined, options: Omit<PiscinaPoolOptions, "threads"> = {}): CpuPool {
  return workers === 0 ? inlinePool() : piscinaPool({ ...options, threads: workers });
}
