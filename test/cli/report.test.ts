import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeReport } from "../../src/cli/report.ts";
import { tempDir } from "../helpers/tempDir.ts";

test("report.html draws loss terms, throughput, timings and evaluations as rendered SVG charts", async () => {
  const dir = tempDir("clipflow-report-");
  const lines = Array.from({ length: 20 }, (_, step) =>
    JSON.stringify({ step, epoch: Math.floor(step / 10), loss: 2 - step * 0.05, ce: 1.2 - step * 0.02, mse: 0.8 - step * 0.03, lr: 0.01, clips_per_s: 30 + step, data_wait_ms: 5, step_ms: 200 }),
  );
  writeFileSync(join(dir, "metrics.jsonl"), `${lines.join("\n")}\n`);
  writeFileSync(join(dir, "dead-letter.jsonl"), `${JSON.stringify({ key: "a" })}\n`);
  writeFileSync(join(dir, "spec.json"), JSON.stringify({ name: "prp<test>" }));
  mkdirSync(join(dir, "eval"));
  writeFileSync(join(dir, "eval", "retrieval.json"), JSON.stringify({ "R@1": 0.4, "R@5": 0.7, protocol: "prp" }));
  writeFileSync(join(dir, "eval", "retrieval-random-init.json"), JSON.stringify({ "R@1": 0.2, "R@5": 0.5, protocol: "prp" }));
  const path = await writeReport(dir);
  const html = readFileSync(path, "utf8");
  for (const heading of ["Loss", "Throughput", "Data wait vs step time", "Evaluation", "Spec"]) assert.match(html, new RegExp(`<h2>${heading}</h2>`));
  assert.equal((html.match(/<svg /g) ?? []).length, 4);
  for (const term of ["loss", "ce", "mse"]) assert.match(html, new RegExp(`>${term}<`), `legend has ${term}`);
  assert.match(html, /<td>retrieval-random-init<\/td><td>0\.2000<\/td><td>0\.5000<\/td>/);
  assert.match(html, /steps: 20 · epochs: 2 · dead letters: 1/);
  assert.match(html, /prp&lt;test&gt;/);
});

test("an empty run directory still gives a valid report", async () => {
  const dir = tempDir("clipflow-report-");
  const html = readFileSync(await writeReport(dir), "utf8");
  assert.match(html, /steps: 0 · dead letters: 0/);
  assert.equal((html.match(/<svg /g) ?? []).length, 0);
});
