/**
 * `clipflow demo`: the embedded default. Generates the synthetic actions set if missing, pretrains PRP with a small
 * backbone on CPU, then evaluates retrieval and a linear probe for the trained encoder and for the same architecture
 * at random initialisation, prints the table and the report path.
 */
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { interruptSignal } from "../../core/runner.ts";
import { synthesize } from "../../io/synth.ts";
import { evaluate } from "../../pipelines/evaluate.ts";
import { prpSpec } from "../../pipelines/prp.ts";
import { pretrain } from "../../pipelines/pretrain.ts";
import { parsePipelineSpec } from "../../stages/index.ts";
import { writeReport } from "../report.ts";
import { intFlag, numberFlag, optionalIntFlag, parseCommandArgs, stringFlag } from "../args.ts";

export const help = `clipflow demo [--data DIR] [--out RUN] [--steps N] [--videos N] [--workers N] [--seed S]

Synthetic actions (6 motion classes, H.264) → PRP pretraining (R3D-10 at width 1/8, 32×32 frames, rates 1/2/4, batch 8) →
retrieval R@k and linear-probe accuracy on held-out videos, trained vs random init of the same architecture.

  --data DIR     where the synthetic set lives / is generated (default data/demo-actions)
  --out RUN      run directory (default runs/demo; replaced)
  --steps N      pretraining steps (default 150, a few minutes on 2 cores)
  --videos N     synthetic videos when generating (default 96)
  --workers N    decode worker threads (default: one per core)
  --lr X         base learning rate (default 0.05)
  --seed S       seed for data, initialisation and order (default 0)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("demo", argv, {
    data: { type: "string" },
    out: { type: "string" },
    steps: { type: "string" },
    videos: { type: "string" },
    workers: { type: "string" },
    seed: { type: "string" },
    lr: { type: "string" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const data = stringFlag(values, "data") ?? "data/demo-actions";
  const out = stringFlag(values, "out") ?? "runs/demo";
  const seed = intFlag(values, "seed", 0);
  const workers = optionalIntFlag(values, "workers");
  const log = (line: string) => process.stderr.write(`${line}\n`);
  if (!existsSync(join(data, "trainlist01.txt"))) {
    log(`generating the synthetic actions set in ${data} …`);
    await synthesize({ out: data, kind: "actions", videos: intFlag(values, "videos", 96, 12), seed, width: 64, height: 64, classes: 6 });
  }
  const train = join(data, "trainlist01.txt");
  const test = join(data, "testlist01.txt");
  const raw = prpSpec({ data: train, steps: intFlag(values, "steps", 150, 1), epochs: 1000, batch: 8, backbone: "r3d", width: 0.125, size: 32, lr: numberFlag(values, "lr") ?? 0.05, seed }) as {
    stages: Array<Record<string, unknown>>;
    train: { task: Record<string, unknown> };
  };
  // Whole 64×64 frames scaled to 32×32 (no crop: the moving object stays in view), rates {1, 2, 4}: the synthetic
  // videos have 90 frames, and rate 8 needs 129.
  Object.assign(raw.stages[1]!, { width: 32, height: 32, crop: [32, 32], rates: [1, 2, 4] });
  raw.train.task.rates = 3;
  const spec = parsePipelineSpec(raw);
  await rm(out, { recursive: true, force: true });
  const { signal, dispose } = interruptSignal();
  try {
    log(`pretraining PRP → ${out}`);
    const result = await pretrain({ spec, out, workers, signal, log });
    if (result.status === "cancelled") {
      log("stopped by Ctrl-C; the checkpoint is usable with clipflow eval");
      return 130;
    }
    log(`pretrained: ${result.steps} steps in ${(result.elapsedMs / 1000).toFixed(0)} s (${result.clipsPerSecond.toFixed(1)} clips/s), last loss ${result.lastLoss.toFixed(4)}`);
    await mkdir(join(out, "eval"), { recursive: true });
    const rows: Array<[string, Record<string, unknown>]> = [];
    for (const randomInit of [false, true]) {
      const name = randomInit ? "random-init" : "prp";
      log(`evaluating ${name} …`);
      const scored = await evaluate({ checkpoint: out, train, test, kinds: ["retrieval", "linear"], protocol: "prp", randomInit, workers, probeEpochs: 100 });
      await writeFile(join(out, "eval", `${name}.json`), `${JSON.stringify(scored, null, 2)}\n`);
      rows.push([name, scored]);
    }
    const columns = ["R@1", "R@5", "R@10", "accuracy"];
    const format = (v: unknown) => (typeof v === "number" ? (100 * v).toFixed(1).padStart(9) : "        –");
    process.stdout.write(`\n${"encoder".padEnd(14)}${columns.map((c) => c.padStart(9)).join("")}   (%, ${String(rows[0]?.[1].testVideos)} test videos vs ${String(rows[0]?.[1].trainVideos)} train)\n`);
    for (const [name, scored] of rows) process.stdout.write(`${name.padEnd(14)}${columns.map((c) => format(scored[c])).join("")}\n`);
    const report = await writeReport(out);
    process.stdout.write(`\nreport: ${report}\n`);
    return 0;
  } finally {
    dispose();
  }
}
