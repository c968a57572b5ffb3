/**
 * The clipflow command line (DESIGN.md §7). Each subcommand lives in src/cli/commands/<name>.ts and exports `help` and
 * `run(argv) → exit code`. A subcommand that is not built yet says so and exits non-zero; it never pretends.
 */
import { ClipflowError } from "../core/errors.ts";

interface Command {
  summary: string;
  load?: () => Promise<{ help: string; run(argv: string[]): Promise<number> }>;
  /** Where the work for a command that is not built yet is tracked. */
  pending?: string;
}

export const commands: Record<string, Command> = {
  synth: { summary: "generate synthetic videos (actions | untrimmed) with labels and splits", load: () => import("./commands/synth.ts") },
  probe: { summary: "one JSON line per video: ok, frames, fps, size, codec, error", load: () => import("./commands/probe.ts") },
  shard: { summary: "write tar shards + index for streaming", load: () => import("./commands/shard.ts") },
  flow: { summary: "precompute optical flow for a dataset (tvl1 | fast), resumable", load: () => import("./commands/flow.ts") },
  pretrain: { summary: "pretrain with a pipeline (prp | vtdl | coclr (stage 1, or one cycle) | tsp | SPEC.json)", load: () => import("./commands/pretrain.ts") },
  coclr: { summary: "CoCLR's schedule: InfoNCE on RGB and flow, then co-training cycles", load: () => import("./commands/coclr.ts") },
  extract: { summary: "extract clip / video features to HDF5", load: () => import("./commands/extract.ts") },
  eval: { summary: "retrieval, linear-probe or localisation evaluation of a checkpoint", load: () => import("./commands/eval.ts") },
  demo: { summary: "synth → pretrain → eval vs random init, on the embedded default data", load: () => import("./commands/demo.ts") },
  schema: { summary: "print the JSON Schema of pipeline specs", load: () => import("./commands/schema.ts") },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  const lines = Object.entries(commands).map(
    ([name, command]) => `  ${name.padEnd(width)}  ${command.summary}${command.load ? "" : "  (not built yet)"}`,
  );
  return `clipflow: typed dataflow pipelines for self-supervised video representation learning

Usage: clipflow <command> [options]    (clipflow <command> --help for its options)

Commands:
${lines.join("\n")}
`;
}

export async function main(argv: string[]): Promise<number> {
  // `clipflow probe DATA | head` closes stdout early: stop quietly instead of crashing on EPIPE
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === "--version") {
    process.stdout.write("clipflow 0.1.0\n");
    return 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`clipflow: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (command.load === undefined) {
    process.stderr.write(`clipflow ${name}: not built yet (${command.pending ?? "planned"}); nothing was done.\n`);
    return 3;
  }
  try {
    const module = await command.load();
    return await module.run(rest);
  } catch (error) {
    if (error instanceof ClipflowError) {
      process.stderr.write(`${error.describe()}\n`);
      return error.tag === "Cancelled" ? 130 : 1;
    }
    throw error;
  }
}
