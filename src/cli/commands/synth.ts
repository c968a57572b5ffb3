/** `clipflow synth`: writes a synthetic dataset of real H.264 videos (the embedded default data). */
import { ClipflowError } from "../../core/errors.ts";
import { synthesize } from "../../io/synth.ts";
import { intFlag, parseCommandArgs, requireFlag, stringFlag } from "../args.ts";

export const help = `clipflow synth --out DIR [--kind actions|untrimmed] [--videos N] [--seed S] [--size WxH] [--seconds S] [--classes N]

Writes a synthetic dataset of real H.264 videos:
  actions    one folder per motion class (Slide, Rise, Spin, Zoom, Orbit, Shake) of textured objects over textured,
             sometimes drifting backgrounds; UCF101-style names and split lists (classInd.txt, trainlist01.txt, testlist01.txt)
  untrimmed  longer videos with action segments between static stretches, plus TSP-style annotations.csv and metadata.csv

  --videos N     videos in all (default 60 for actions, 12 for untrimmed)
  --seed S       the same seed writes the same videos (default 0)
  --size WxH     frame size (default 128x128)
  --seconds S    length of each video (default 3 for actions, 10 for untrimmed)
  --classes N    number of motion classes, 2–6 (default 6)`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("synth", argv, {
    out: { type: "string" },
    kind: { type: "string" },
    videos: { type: "string" },
    seed: { type: "string" },
    size: { type: "string" },
    seconds: { type: "string" },
    classes: { type: "string" },
  });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const out = requireFlag(values, "out", "synth");
  const kind = stringFlag(values, "kind") ?? "actions";
  if (kind !== "actions" && kind !== "untrimmed") throw new ClipflowError("ConfigError", `--kind must be actions or untrimmed, got "${kind}"`, { field: "--kind" });
  const size = stringFlag(values, "size") ?? "128x128";
  const match = /^(\d+)x(\d+)$/.exec(size);
  if (!match || Number(match[1]) % 2 !== 0 || Number(match[2]) % 2 !== 0) {
    throw new ClipflowError("ConfigError", `--size must be WxH with even sizes, got "${size}"`, { field: "--size" });
  }
  const seconds = stringFlag(values, "seconds");
  const started = performance.now();
  const result = await synthesize({
    out,
    kind,
    videos: intFlag(values, "videos", kind === "actions" ? 60 : 12, 1),
    seed: intFlag(values, "seed", 0),
    width: Number(match[1]),
    height: Number(match[2]),
    classes: intFlag(values, "classes", 6, 2),
    ...(seconds === undefined ? {} : { seconds: Number(seconds) }),
    onVideo: (path, index, total) => {
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${index + 1}/${total} ${path}`);
    },
  });
  if (process.stderr.isTTY) process.stderr.write("\n");
  process.stdout.write(`wrote ${result.files.length} ${kind} videos (${result.classes.length} classes) to ${out} in ${((performance.now() - started) / 1000).toFixed(1)}s\n`);
  return 0;
}
