/**
 * The main side of a model thread (a trainer replica, or the trainer itself): starts the worker with an init message,
 * waits for "ready", then sends requests that carry an id and settles each one with its reply. A worker that dies
 * fails every pending and later request with a typed error; `log` messages from the worker go to the given logger.
 * The worker side answers { type: "reply", id, value } or { type: "error", id, error } (id −1: outside any request).
 */
import { Worker } from "node:worker_threads";
import { ClipflowError, errorFromRecord, errorToRecord, toClipflowError, type ErrorRecord } from "../core/errors.ts";

type Reply = { type: "ready" } | { type: "log"; line: string } | { type: "reply"; id: number; value: unknown } | { type: "error"; id: number; error: ErrorRecord };

export class ThreadClient {
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
  private next = 0;
  private failure: ClipflowError | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly name: string,
    log: (line: string) => void,
  ) {
    worker.on("message", (reply: Reply) => {
      if (reply.type === "ready") return;
      if (reply.type === "log") return log(reply.line);
      if (reply.type === "error") {
        const error = errorFromRecord(reply.error);
        if (reply.id < 0) this.fail(error);
        else this.settle(reply.id, undefined, error);
        return;
      }
      this.settle(reply.id, reply.value);
    });
    worker.on("error", (error) => this.fail(new ClipflowError("StageError", `${name} failed: ${error.message}`, { stage: "train", cause: error })));
    worker.on("exit", (code) => {
      if (code !== 0) this.fail(new ClipflowError("StageError", `${name} exited with code ${code}`, { stage: "train" }));
    });
  }

  /** Starts the worker at `entry` and sends it `init`; resolves once it says "ready". */
  static async start(entry: string, init: Record<string, unknown>, name: string, log: (line: string) => void = () => {}): Promise<ThreadClient> {
    const worker = new Worker(entry);
    const client = new ThreadClient(worker, name, log);
    try {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (reply: Reply) => {
          if (reply.type === "ready") {
            worker.off("message", onMessage);
            resolve();
          } else if (reply.type === "error") reject(errorFromRecord(reply.error));
        };
        worker.on("message", onMessage);
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new ClipflowError("StageError", `${name} exited with code ${code} while starting`, { stage: "train" })));
        worker.postMessage({ type: "init", ...init });
      });
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    return client;
  }

  private fail(error: ClipflowError): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(error);
    this.waiting.clear();
  }

  private settle(id: number, value: unknown, error?: unknown): void {
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    if (error !== undefined) waiter?.reject(error);
    else waiter?.resolve(value);
  }

  /** Sends a request and waits for its reply; `transfer` moves those buffers instead of copying them. */
  request<T>(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** Sends a message that needs no reply (handled in order with the requests). */
  post(message: Record<string, unknown>): void {
    this.worker.postMessage(message);
  }

  async close(): Promise<void> {
    this.worker.postMessage({ type: "close" });
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 5_000);
      this.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * The worker side: handles messages strictly in order. `init` builds the thread's state (then "ready" is sent),
 * `close` releases it and closes the port; every other message is a request answered with its handler's value
 * (with the buffers `transferOf` names moved, not copied), or a message without id that needs no reply.
 */
export function serveThread<S>(
  port: import("node:worker_threads").MessagePort,
  handlers: {
    init: (message: Record<string, unknown>, log: (line: string) => void) => Promise<S>;
    close: (state: S) => void | Promise<void>;
    handle: (state: S, message: Record<string, unknown>) => unknown;
    transferOf?: (value: unknown) => ArrayBuffer[];
  },
): void {
  const toRecord = (error: unknown): ErrorRecord => errorToRecord(toClipflowError(error, { stage: "train" }));
  let state: S | undefined;
  let queue: Promise<void> = Promise.resolve();
  const log = (line: string) => port.postMessage({ type: "log", line });
  const run = async (message: Record<string, unknown>): Promise<void> => {
    if (message.type === "init") {
      state = await handlers.init(message, log);
      port.postMessage({ type: "ready" });
      return;
    }
    if (message.type === "close") {
      if (state !== undefined) await handlers.close(state);
      port.close();
      return;
    }
    const id = message.id as number | undefined;
    try {
      const value = await handlers.handle(state as S, message);
      if (id !== undefined) port.postMessage({ type: "reply", id, value }, handlers.transferOf?.(value) ?? []);
    } catch (error) {
      port.postMessage({ type: "error", id: id ?? -1, error: toRecord(error) });
    }
  };
  port.on("message", (message: Record<string, unknown>) => {
    queue = queue.then(() => run(message)).catch((error: unknown) => port.postMessage({ type: "error", id: -1, error: toRecord(error) }));
  });
}
