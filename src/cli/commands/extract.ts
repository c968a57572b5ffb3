/** `clipflow extract`: clip features of every video from a run's encoder, to HDF5 (one dataset per video). */
import { ClipflowError } from "../../core/errors.ts";
import { writeFeaturesH5 } from "../../io/featureFile.ts";
import { specOfCheckpoint } from "../../pipelines/evaluate.ts";
import { extractFeatures } from "../../pipelines/features.ts";
import { intFlag, optionalIntFlag, parseCommandArgs, requireFlag, stringFlag } from "../args.ts";

export const help = `clipflow extract --checkpoint RUN --data DATA --out FILE.h5 [--clips N] [--protocol prp|coclr] [--random-init]

Writes FILE.h5 with one float32 dataset [clips, dim] per video (named by video id; readable by h5py) and a group
video_features/ with each video's clip-averaged feature.

  --clips N       uniformly spaced clips per video (default 10)
  --stride N      dense clips: one every N frames from frame 0 (TSP-style localisation features; overrides --clips)
  --protocol P    prp: encoder output → maxpool(1,2,2) → flatten; coclr: global average pool (default coclr)
  --random-init   the same architecture untrained
  --workers N     decode worker threads`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("extract", argv, {
    checkpoint: { type: "string" },
    data: { type: "string" },
    out: { type: "string" },
    clips: { type: "string" },
    stride: { type: "string" },
    protocol: { type: "string" },
    workers: { type: "string" },
    "random-init": { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const out = requireFlag(values, "out", "extract");
  if (!out.endsWith(".h5")) throw new ClipflowError("ConfigError", `--out must name an .h5 file, got "${out}"`, { field: "--out" });
  const protocol = stringFlag(values, "protocol") ?? "coclr";
  if (protocol !== "prp" && protocol !== "coclr") throw new ClipflowError("ConfigError", `--protocol must be prp or coclr, got "${protocol}"`, { field: "--protocol" });
  const { spec, dir } = await specOfCheckpoint(requireFlag(values, "checkpoint", "extract"));
  const stride = optionalIntFlag(values, "stride", 1);
  const features = await extractFeatures({
    spec,
    checkpoint: values["random-init"] === true ? undefined : dir,
    data: requireFlag(values, "data", "extract"),
    clips: intFlag(values, "clips", 10, 1),
    stride,
    protocol,
    workers: optionalIntFlag(values, "workers"),
    progress: process.stderr.isTTY === true,
  });
  const perClip = features.ids.map((id, i) => ({ name: id, data: features.perClip[i]!, shape: [features.clipCounts[i]!, features.dim] as [number, number] }));
  const averaged = features.ids.map((id, i) => ({ name: id, data: features.features.subarray(i * features.dim, (i + 1) * features.dim), shape: [1, features.dim] as [number, number] }));
  await writeFeaturesH5(out, perClip, averaged, { checkpoint: dir, protocol, randomInit: values["random-init"] === true ? 1 : 0 });
  process.stdout.write(`wrote features of ${features.ids.length} videos (${features.dim} dims, ${features.deadLetters} skipped) to ${out}\n`);
  return 0;
}
