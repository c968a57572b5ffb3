/**
 * The human-readable run report: report.html in a run directory, with loss curves (every loss term), throughput
 * (clips/s, data wait vs step time) and evaluation results (trained vs random init) drawn by vega-lite and rendered
 * to SVG by vega, plus the spec and the dead-letter count. Rebuilt from the files a run writes (metrics.jsonl,
 * eval/*.json, spec.json, dead-letter.jsonl), so it can be regenerated at any time.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

type Row = Record<string, unknown>;

function readJsonl(path: string): Row[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as Row];
      } catch {
        return [];
      }
    });
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const escapeHtml = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);

/** Loss terms are the numeric fields of step records other than bookkeeping ones. */
const bookkeeping = new Set(["step", "epoch", "lr", "clips_per_s", "data_wait_ms", "step_ms", "time", "batch", "samples"]);

export interface EvalResult {
  name: string;
  metrics: Record<string, number>;
}

export async function buildReport(runDir: string): Promise<string> {
  const steps = readJsonl(join(runDir, "metrics.jsonl")).filter((row) => typeof row.step === "number");
  const deadLetters = readJsonl(join(runDir, "dead-letter.jsonl")).length;
  const specPath = join(runDir, "spec.json");
  const spec = existsSync(specPath) ? readFileSync(specPath, "utf8") : "{}";
  const evalDir = join(runDir, "eval");
  const evals: EvalResult[] = existsSync(evalDir)
    ? readdirSync(evalDir)
        .filter((file) => file.endsWith(".json"))
        .sort()
        .map((file) => {
          const raw = JSON.parse(readFileSync(join(evalDir, file), "utf8")) as Row;
          const metrics: Record<string, number> = {};
          for (const [key, value] of Object.entries(raw)) if (typeof value === "number") metrics[key] = value;
          return { name: file.replace(/\.json$/, ""), metrics };
        })
    : [];

  const terms = [...new Set(steps.flatMap((row) => Object.keys(row).filter((key) => !bookkeeping.has(key) && typeof row[key] === "number")))];
  const lossRows = steps.flatMap((row) => terms.filter((term) => typeof row[term] === "number").map((term) => ({ step: row.step, term, value: row[term] })));
  const timingRows = steps.flatMap((row) =>
    ["data_wait_ms", "step_ms"].filter((key) => typeof row[key] === "number").map((key) => ({ step: row.step, kind: key, ms: row[key] })),
  );
  const sections: string[] = [];
  if (lossRows.length > 0) {
    sections.push(
      `<h2>Loss</h2>${await renderSvg({
        width: 640,
        height: 260,
        data: { values: lossRows },
        mark: { type: "line", interpolate: "monotone" },
        encoding: {
          x: { field: "step", type: "quantitative" },
          y: { field: "value", type: "quantitative", title: "loss" },
          color: { field: "term", type: "nominal" },
        },
      })}`,
    );
  }
  if (steps.some((row) => typeof row.clips_per_s === "number")) {
    sections.push(
      `<h2>Throughput</h2>${await renderSvg({
        width: 640,
        height: 180,
        data: { values: steps.filter((row) => typeof row.clips_per_s === "number") },
        mark: "line",
        encoding: { x: { field: "step", type: "quantitative" }, y: { field: "clips_per_s", type: "quantitative", title: "clips/s" } },
      })}`,
    );
  }
  if (timingRows.length > 0) {
    sections.push(
      `<h2>Data wait vs step time</h2>${await renderSvg({
        width: 640,
        height: 180,
        data: { values: timingRows },
        mark: "area",
        encoding: {
          x: { field: "step", type: "quantitative" },
          y: { field: "ms", type: "quantitative", stack: "zero", title: "ms per step" },
          color: { field: "kind", type: "nominal" },
        },
      })}`,
    );
  }
  if (evals.length > 0) {
    const rows = evals.flatMap((result) => Object.entries(result.metrics).map(([metric, value]) => ({ run: result.name, metric, value })));
    const metricNames = [...new Set(rows.map((row) => row.metric))];
    const table = `<table><tr><th>evaluation</th>${metricNames.map((m) => `<th>${escapeHtml(m)}</th>`).join("")}</tr>${evals
      .map(
        (result) =>
          `<tr><td>${escapeHtml(result.name)}</td>${metricNames.map((m) => `<td>${result.metrics[m] === undefined ? "" : (result.metrics[m] as number).toFixed(4)}</td>`).join("")}</tr>`,
      )
      .join("")}</table>`;
    sections.push(
      `<h2>Evaluation</h2>${table}${await renderSvg({
        data: { values: rows },
        mark: "bar",
        width: { step: 32 },
        height: 180,
        encoding: {
          column: { field: "metric", type: "nominal", title: null },
          x: { field: "run", type: "nominal", axis: null },
          y: { field: "value", type: "quantitative" },
          color: { field: "run", type: "nominal" },
        },
      })}`,
    );
  }
  const last = steps.at(-1);
  const facts = [
    `steps: ${steps.length}`,
    last && typeof last.epoch === "number" ? `epochs: ${last.epoch + 1}` : undefined,
    `dead letters: ${deadLetters}`,
  ].filter((fact) => fact !== undefined);
  return `<!doctype html><html><head><meta charset="utf-8"><title>clipflow run ${escapeHtml(runDir)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:24em}</style>
</head><body><h1>clipflow run</h1><p>${escapeHtml(runDir)}</p><p>${facts.join(" · ")}</p>
${sections.join("\n")}
<h2>Spec</h2><pre>${escapeHtml(spec)}</pre></body></html>
`;
}

/** Writes report.html into the run directory and returns its path. */
export async function writeReport(runDir: string): Promise<string> {
  const path = join(runDir, "report.html");
  writeFileSync(path, await buildReport(runDir));
  return path;
}
