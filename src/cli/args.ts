/**
 * Small helpers shared by the subcommands: argument parsing with clear errors (node:util parseArgs), and help text.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { ClipflowError } from "../core/errors.ts";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

/** Flags every training command takes (the model and data shape of a run): --batch --backbone --width --size --frames --lr --seed --workers. */
export const trainingFlags: Options = Object.fromEntries(["batch", "backbone", "width", "size", "frames", "lr", "seed", "workers"].map((name) => [name, { type: "string" }]));

/** Parses argv for a subcommand; unknown flags and missing values become a ConfigError naming the flag. */
export function parseCommandArgs(command: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals, strict: true });
    return { values: values as Parsed["values"], positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ClipflowError("ConfigError", `clipflow ${command}: ${message.replace(/\. To specify .*$/s, "")}`);
  }
}

/** Reads an integer flag, naming the flag when it is not one. */
export function intFlag(values: Parsed["values"], name: string, fallback: number, min = 0): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || !Number.isInteger(value) || value < min) {
    throw new ClipflowError("ConfigError", `--${name} must be an integer >= ${min}, got "${String(raw)}"`, { field: `--${name}` });
  }
  return value;
}

export function stringFlag(values: Parsed["values"], name: string): string | undefined {
  const raw = values[name];
  return typeof raw === "string" ? raw : undefined;
}

export function requireFlag(values: Parsed["values"], name: string, command: string): string {
  const value = stringFlag(values, name);
  if (value === undefined || value === "") {
    throw new ClipflowError("ConfigError", `clipflow ${command}: --${name} is required`, { field: `--${name}` });
  }
  return value;
}

/** An optional integer flag: undefined when absent, else checked like intFlag. */
export function optionalIntFlag(values: Parsed["values"], name: string, min = 0): number | undefined {
  return stringFlag(values, name) === undefined ? undefined : intFlag(values, name, 0, min);
}

/** An optional positive number flag (learning rates, width multipliers). */
export function numberFlag(values: Parsed["values"], name: string): number | undefined {
  const raw = stringFlag(values, name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new ClipflowError("ConfigError", `--${name} must be a positive number, got "${raw}"`, { field: `--${name}` });
  return value;
}
