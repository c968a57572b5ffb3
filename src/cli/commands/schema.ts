/** `clipflow schema`: prints the JSON Schema of pipeline specs (point a spec's "$schema" at the saved file). */
import { writeFileSync } from "node:fs";
import { pipelineJsonSchema } from "../../stages/index.ts";
import { parseCommandArgs, stringFlag } from "../args.ts";

export const help = `clipflow schema [--out FILE]

Prints the JSON Schema of pipeline specs (every registered stage with its fields, defaults and run options).
Save it and reference it from a spec's "$schema" field for completion and checking in an editor.

  --out FILE   write to FILE instead of stdout`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs("schema", argv, { out: { type: "string" } });
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const text = `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
  const out = stringFlag(values, "out");
  if (out === undefined) process.stdout.write(text);
  else writeFileSync(out, text);
  return 0;
}
