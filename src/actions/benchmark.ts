import { resolve } from "node:path";
import * as core from "@actions/core";
import { type LoadMode, loadBodies, runBenchmark, synthesizeOipBody } from "../bench/run.js";
import { benchmarkHeaders, benchmarkRows } from "../report/summary.js";
import { markdownTable } from "../util/table.js";
import { actionLogger, writeReport } from "./common.js";

/** A numeric input: empty → fallback; anything not a finite number ≥ min (above 0 by default) is an error. */
const number = (name: string, fallback?: number, min = Number.MIN_VALUE): number | undefined => {
  const raw = core.getInput(name);
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`input ${name} must be a number${min === 0 ? " ≥ 0" : " above 0"}, got "${raw}"`);
  }
  return value;
};

export async function benchmarkAction(): Promise<void> {
  const url = core.getInput("url", { required: true });
  const protocol = core.getInput("protocol") || "oip";
  if (protocol !== "oip" && protocol !== "json")
    throw new Error(`input protocol must be oip or json, got "${protocol}"`);
  const modelName = core.getInput("model-name") || undefined;
  const input = core.getInput("input");
  const rps = number("rate");
  const connections = number("concurrency");
  if (rps !== undefined && connections !== undefined)
    throw new Error("give either input rate or input concurrency, not both");
  const mode: LoadMode =
    connections !== undefined ? { kind: "concurrency", connections } : { kind: "rate", rps: rps ?? 20 };
  const bodies = input
    ? await loadBodies(resolve(input))
    : protocol === "oip" && modelName
      ? [await synthesizeOipBody(url, modelName)]
      : [];
  if (bodies.length === 0)
    throw new Error(
      "input input (a JSONL of request bodies) is required unless protocol is oip with model-name",
    );
  const report = await runBenchmark(
    {
      url,
      protocol,
      modelName,
      bodies,
      mode,
      durationS: number("duration", 10) as number,
      warmupS: number("warmup", 1, 0) as number,
    },
    (p) =>
      actionLogger.info(
        `${p.elapsedS.toFixed(0)}s: ${p.requests} requests, ${p.errors} errors, p99 ${p.p99Ms.toFixed(1)} ms`,
      ),
  );
  for (const [key, value] of Object.entries(report.latencyMs)) core.setOutput(`${key}-ms`, String(value));
  core.setOutput("throughput-rps", String(report.throughputRps));
  core.setOutput("requests", String(report.requests));
  core.setOutput("errors", String(report.errors));
  core.setOutput("report", await writeReport("benchmark", report));
  await core.summary
    .addHeading("⏱️ modelship benchmark", 2)
    .addRaw(markdownTable(benchmarkHeaders, benchmarkRows(report)), true)
    .write();
}
