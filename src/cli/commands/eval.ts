/** `clipflow eval retrieval|linear|all|localisation`: evaluates a run's encoder (or the same architecture untrained). */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { ClipflowError } from "../../core/errors.ts";
import { formatComparison } from "../../eval/compare.ts";
import { compareRuns, evaluate } from "../../pipelines/evaluate.ts";
import { intFlag, optionalIntFlag, parseCommandArgs, requireFlag, stringFlag, type Parsed } from "../args.ts";
import { evaluateLocalisation } from "../../pipelines/localisation.ts";

export const help = `clipflow eval retrieval|linear|all|compare|localisation --checkpoint RUN --train DATA --test DATA [options]

  retrieval      nearest-neighbour retrieval, test videos as queries against train videos: R@1/5/10/20/50
  linear         linear probe on frozen features (CoCLR protocol: L2-normalise → BatchNorm → Linear, SGD lr 0.1,
                 wd 1e-3, ×0.1 at 60% and 80% of the epochs): top-1 accuracy
  all            both, from one feature extraction
  compare        pretrained runs (--checkpoint repeated: e.g. one per training seed) against --random-inits N random
                 initialisations of the first run's architecture: R@1/5/10 and probe accuracy of each, group mean ± sd,
                 and the margin with a bootstrap interval over test videos; "clear" when the interval is above zero
                 and every pretrained run beats every random init
  localisation   TSP / TAC runs on annotated untrimmed videos (DATA = annotations CSV): clips at the centre of every
                 segment; a linear probe on pooled clip features tells action from background (accuracy, balanced
                 accuracy); with --gvf FILE.h5 (GVF of the test videos) also TSP's own region head

  --checkpoint RUN   run directory (its latest checkpoint) or a checkpoint directory
  --protocol P       prp (10 clips, max-pooled conv features, cosine) | coclr (pooled features, centred, dot product)
  --clips N          clips per video (default 10; localisation: per segment, default 1)
  --random-init      the same architecture untrained: the baseline for every number
  --init-seed S      with --random-init (retrieval, linear, all): the seed of those weights (default: the run's)
  --random-inits N   compare: random initialisations at init seeds 0 … N−1 (default 3)
  --resamples N      compare: bootstrap resamples (default 2000)
  --gvf FILE.h5      localisation: global video features of the test videos, to score the region head
  --epochs N         linear-probe epochs (default 100)
  --workers N        decode worker threads
  --out FILE.json    write the result (printed either way)`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    "eval",
    argv,
    {
      checkpoint: { type: "string", multiple: true },
      "random-inits": { type: "string" },
      resamples: { type: "string" },
      train: { type: "string" },
      test: { type: "string" },
      protocol: { type: "string" },
      clips: { type: "string" },
      epochs: { type: "string" },
      workers: { type: "string" },
      out: { type: "string" },
      "random-init": { type: "boolean" },
      "init-seed": { type: "string" },
      gvf: { type: "string" },
    },
    true,
  );
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const kind = positionals[0];
  if (kind !== "retrieval" && kind !== "linear" && kind !== "all" && kind !== "compare" && kind !== "localisation") {
    throw new ClipflowError("ConfigError", `clipflow eval: say retrieval, linear, all, compare or localisation (got ${kind === undefined ? "nothing" : `"${kind}"`})`, { field: "kind" });
  }
  const checkpoints = (values.checkpoint as string[] | undefined) ?? [];
  if (kind !== "compare" && checkpoints.length > 1) throw new ClipflowError("ConfigError", `clipflow eval ${kind}: one --checkpoint (several are for eval compare)`, { field: "--checkpoint" });
  values.checkpoint = checkpoints[0];
  const protocol = stringFlag(values, "protocol") ?? "prp";
  if (protocol !== "prp" && protocol !== "coclr") throw new ClipflowError("ConfigError", `--protocol must be prp or coclr, got "${protocol}"`, { field: "--protocol" });
  if (kind === "compare") {
    if (checkpoints.length === 0) requireFlag(values, "checkpoint", "eval compare");
    const comparison = await compareRuns({
      checkpoints,
      randomInits: intFlag(values, "random-inits", 3, 1),
      resamples: intFlag(values, "resamples", 2000, 1),
      train: requireFlag(values, "train", "eval"),
      test: requireFlag(values, "test", "eval"),
      protocol,
      clips: intFlag(values, "clips", 10, 1),
      probeEpochs: intFlag(values, "epochs", 100, 1),
      workers: optionalIntFlag(values, "workers"),
      log: (line) => process.stderr.write(`${line}\n`),
      progress: process.stderr.isTTY === true,
    });
    process.stderr.write(`${formatComparison(comparison)}\n`);
    return write(values, comparison as unknown as Record<string, unknown>);
  }
  if (kind === "localisation") {
    return write(
      values,
      await evaluateLocalisation({
        checkpoint: requireFlag(values, "checkpoint", "eval"),
        train: requireFlag(values, "train", "eval"),
        test: requireFlag(values, "test", "eval"),
        randomInit: values["random-init"] === true,
        gvf: stringFlag(values, "gvf"),
        clipsPerSegment: intFlag(values, "clips", 1, 1),
        probeEpochs: intFlag(values, "epochs", 100, 1),
        workers: optionalIntFlag(values, "workers"),
      }),
    );
  }
  const result = await evaluate({
    checkpoint: requireFlag(values, "checkpoint", "eval"),
    train: requireFlag(values, "train", "eval"),
    test: requireFlag(values, "test", "eval"),
    kinds: kind === "all" ? ["retrieval", "linear"] : [kind],
    protocol,
    randomInit: values["random-init"] === true,
    initSeed: optionalIntFlag(values, "init-seed", 0),
    clips: intFlag(values, "clips", 10, 1),
    probeEpochs: intFlag(values, "epochs", 100, 1),
    workers: optionalIntFlag(values, "workers"),
    progress: process.stderr.isTTY === true,
  });
  return write(values, result);
}

async function write(values: Parsed["values"], result: Record<string, unknown>): Promise<number> {
  const text = `${JSON.stringify(result, null, 2)}\n`;
  process.stdout.write(text);
  const out = stringFlag(values, "out");
  if (out !== undefined) {
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
  }
  return 0;
}
