/**
 * `clipflow coclr`: CoCLR's whole schedule in one command: InfoNCE on RGB and on flow, then co-training cycles that
 * alternate the modalities (each run a normal run folder under OUT, resumable one by one).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { interruptSignal } from "../../core/runner.ts";
import { coclrSchedule, coclrSpec } from "../../pipelines/coclr.ts";
import { pretrain } from "../../pipelines/pretrain.ts";
import { parsePipelineSpec } from "../../stages/index.ts";
import { writeReport } from "../report.ts";
import { intFlag, optionalIntFlag, parseCommandArgs, requireFlag, trainingFlags } from "../args.ts";
import { trainingOverrides } from "../../pipelines/index.ts";

export const help = `clipflow coclr --data DATA --flow CACHE_DIR|online --out DIR [options]

CoCLR (METHODS.md §3): InfoNCE on RGB (DIR/infonce-rgb) and on flow (DIR/infonce-flow), then --cycles co-training
cycles: RGB trained with positives mined by the frozen flow encoder (DIR/cycle1-rgb), then flow with the new RGB
encoder (DIR/cycle1-flow), and so on, each encoder starting from its previous run.

  --data DATA            training videos (folder, split list or manifest)
  --flow DIR|online      the flow cache clipflow flow printed (computed for these videos), or the fast method online
  --out DIR              folder of the runs
  --cycles N             co-training cycles (default 2)
  --infonce-epochs N     stage-1 epochs (default 300)    --infonce-steps N   or stop each stage-1 run after N steps
  --cycle-epochs N       epochs per cycle run (default 100) --cycle-steps N  or stop each cycle run after N steps
  --batch --backbone --width --size --frames --lr --seed --workers   as for clipflow pretrain
  --flow-colour-quirk    apply the RGB colour recipe to flow images in the cycles, as the reference does
  --resume               continue: finished runs are kept, an interrupted one resumes from its checkpoint`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("coclr", argv, {
    ...trainingFlags,
    data: { type: "string" },
    flow: { type: "string" },
    out: { type: "string" },
    cycles: { type: "string" },
    "infonce-epochs": { type: "string" },
    "infonce-steps": { type: "string" },
    "cycle-epochs": { type: "string" },
    "cycle-steps": { type: "string" },
    "flow-colour-quirk": { type: "boolean" },
    resume: { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const out = requireFlag(values, "out", "coclr");
  const runs = coclrSchedule({
    data: requireFlag(values, "data", "coclr"),
    flow: requireFlag(values, "flow", "coclr"),
    out,
    cycles: intFlag(values, "cycles", 2, 0),
    infonce: { epochs: optionalIntFlag(values, "infonce-epochs", 1), steps: optionalIntFlag(values, "infonce-steps", 1) },
    perCycle: { epochs: optionalIntFlag(values, "cycle-epochs", 1), steps: optionalIntFlag(values, "cycle-steps", 1) },
    ...trainingOverrides(values),
    flowColourQuirk: values["flow-colour-quirk"] === true,
  });
  // Every spec is built and validated before the first run starts (a bad flag fails now, not hours later).
  const specs = runs.map((r) => ({ ...r, dir: join(out, r.name), spec: parsePipelineSpec(coclrSpec(r.overrides)) }));
  const workers = optionalIntFlag(values, "workers");
  const { signal, dispose } = interruptSignal();
  try {
    for (const [i, r] of specs.entries()) {
      const resume = values.resume === true && existsSync(join(r.dir, "checkpoints", "latest.json"));
      process.stderr.write(`[${i + 1}/${specs.length}] ${r.name}${resume ? " (resuming)" : ""} → ${r.dir}\n`);
      const result = await pretrain({ spec: r.spec, out: r.dir, resume, workers, signal });
      await writeReport(r.dir);
      process.stdout.write(`${r.name}: ${result.steps} steps, last loss ${result.lastLoss.toFixed(4)}, ${result.clipsPerSecond.toFixed(1)} clips/s\n`);
      if (result.status === "cancelled") {
        process.stderr.write(`stopped (Ctrl-C) in ${r.name}: rerun with --resume to continue\n`);
        return 130;
      }
    }
    process.stdout.write(`encoders: RGB ${join(out, specs.filter((r) => r.name.endsWith("rgb")).at(-1)!.name)}, flow ${join(out, specs.filter((r) => r.name.endsWith("flow")).at(-1)!.name)}\n`);
    return 0;
  } finally {
    dispose();
  }
}
