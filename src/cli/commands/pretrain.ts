/** `clipflow pretrain`: runs a pretraining pipeline (built-in or a JSON spec) into a run directory. */
import { readFileSync } from "node:fs";
import { interruptSignal } from "../../core/runner.ts";
import { writeReport } from "../report.ts";
import { builtinPipelines, specFromArgs } from "../../pipelines/index.ts";
import { pretrain } from "../../pipelines/pretrain.ts";
import { intFlag, optionalIntFlag, parseCommandArgs, requireFlag, trainingFlags, stringFlag } from "../args.ts";

export const help = `clipflow pretrain --pipeline ${Object.keys(builtinPipelines).join("|")}|SPEC.json --data DATA --out RUN [options]

Pretrains an encoder with a pretext pipeline. RUN gets spec.json, metrics.jsonl (one line per step), dead-letter.jsonl,
checkpoints/ (atomic; latest.json points at the newest) and report.html. Ctrl-C writes a checkpoint and stops.

  --pipeline P     a built-in pipeline (defaults from METHODS.md) or a JSON spec file (see clipflow schema)
  --data DATA      folder, split list, manifest or annotations (overrides the spec's videos.data)
  --out RUN        run directory
  --epochs N       passes over the data          --steps N     stop after N optimiser steps
  --batch N        clips per step                 --lr X        base learning rate
  --backbone B     c3d | r3d | r2plus1d | s3d     --width X     channel width multiplier (1 = published widths)
  --size S         crop size (S×S)                --seed S      run seed (data order, augmentation, initialisation)
  --workers N      decode/kernel worker threads (0 = inline; default: one per core)
  --micro-batch N  largest forward/backward chunk (gradient accumulation)
  --replicas 1|2   data-parallel step: 2 runs half of each batch in a second thread (PRP, TSP; default: 2
                   where there are 2 cores; VTDL's and CoCLR's stateful steps run as 1)
  --gvf FILE.h5    TSP: global video features (clipflow extract of a trained encoder); without it, TAC
                   (with a JSON spec: replaces the file of its gvf stage)
  --flow DIR       CoCLR: train stage 1 on flow, from a cache folder that clipflow flow printed, or "online"
                   (the fast method computed on the fly)
  --cycle M        CoCLR stage 2: one co-training cycle training M (rgb | flow) on RGB + flow views, with
  --sampler RUN      the other modality's run (frozen; mines the positives) and
  --init RUN         the run this encoder starts from (its stage-1 InfoNCE run or the previous cycle)
  --flow-colour-quirk  in a cycle, apply the RGB colour recipe to flow images too, as the reference does
  --resume         continue RUN from its latest checkpoint`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("pretrain", argv, {
    ...trainingFlags,
    pipeline: { type: "string" },
    data: { type: "string" },
    out: { type: "string" },
    epochs: { type: "string" },
    steps: { type: "string" },
    "micro-batch": { type: "string" },
    replicas: { type: "string" },
    gvf: { type: "string" },
    flow: { type: "string" },
    cycle: { type: "string" },
    init: { type: "string" },
    sampler: { type: "string" },
    "flow-colour-quirk": { type: "boolean" },
    resume: { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const out = requireFlag(values, "out", "pretrain");
  const spec = specFromArgs(values, (path) => readFileSync(path, "utf8"));
  const { signal, dispose } = interruptSignal();
  try {
    const workers = optionalIntFlag(values, "workers");
    const result = await pretrain({ spec, out, resume: values.resume === true, workers, signal });
    const report = await writeReport(out);
    process.stdout.write(
      `${result.status === "cancelled" ? "stopped (Ctrl-C)" : "done"}: ${result.steps} steps, last loss ${result.lastLoss.toFixed(4)}, ` +
        `${result.clipsPerSecond.toFixed(1)} clips/s, ${result.deadLetters} dead-lettered\ncheckpoint: ${result.checkpoint ?? "none"}\nreport: ${report}\n`,
    );
    return result.status === "cancelled" ? 130 : 0;
  } finally {
    dispose();
  }
}

