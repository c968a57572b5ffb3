import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../helpers/interruptible.ts", import.meta.url));

test("SIGINT stops a running pipeline cleanly: workers closed, status cancelled, exit 0", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`never started: ${stderr}`)), 30_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("running")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.kill("SIGINT");
  const code = await exited;
  assert.equal(code, 0, stderr);
  const last = JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}") as { status?: string; inFlightBound?: boolean };
  assert.deepEqual(last, { status: "cancelled", inFlightBound: true });
});
