/**
 * A bounded shuffle buffer (the streaming shuffle used with sequential shards): fills `buffer` items, then emits a
 * random one for each new arrival, and the rest in random order at the end. Draws come from rng(seed, epoch, stage),
 * so the order depends on the seed and epoch only. Holds `buffer` items, which the runner checks against maxInFlight.
 */
import { Observable } from "rxjs";
import { z } from "zod";
import { rngFor } from "../core/rng.ts";
import { defineStage } from "../core/stage.ts";

export const shuffle = defineStage({
  name: "shuffle",
  in: "any",
  out: "same",
  config: z.object({ buffer: z.int().min(1).max(1_000_000).default(16) }),
  create: (config) => ({
    kind: "reorder",
    holds: config.buffer,
    reorder: <T>(ctx: { seed: number; epoch: number; stage: string }) =>
      (source: Observable<T>) =>
        new Observable<T>((subscriber) => {
          const rng = rngFor(ctx.seed, ctx.epoch, ctx.stage, "shuffle-buffer");
          const held: T[] = [];
          const takeRandom = (): T => {
            const index = rng.int(0, held.length - 1);
            const item = held[index] as T;
            held[index] = held[held.length - 1] as T;
            held.pop();
            return item;
          };
          return source.subscribe({
            next: (item) => {
              held.push(item);
              if (held.length > config.buffer) subscriber.next(takeRandom());
            },
            error: (error) => subscriber.error(error),
            complete: () => {
              while (held.length > 0) subscriber.next(takeRandom());
              subscriber.complete();
            },
          });
        }),
  }),
});
