#!/usr/bin/env node
// The clipflow command. Sources are TypeScript run through tsx (no build step); worker threads load the same way.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
