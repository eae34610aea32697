import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as core from "@actions/core";
import { failureReasons } from "../bench/judge.js";
import { benchmarkMarkdown } from "../bench/markdown.js";
import { progressHooks } from "../bench/progress.js";
import { maskingLogger, runSession } from "../bench/session.js";
import { benchmarkParser } from "../settings/benchmark.js";
import { fromInputs } from "../settings/sources.js";
import { actionLogger, writeReport } from "./common.js";

export async function benchmarkAction(): Promise<void> {
  const { session, secrets } = fromInputs(benchmarkParser, core.getInput, core.setSecret);
  const logger = maskingLogger(actionLogger, secrets);
  // In a CI log a line per window, not one a second.
  const result = await runSession(session, logger, progressHooks("log", logger));
  const { report } = result;
  // A figure that does not exist (no successful request) is an empty output, never "0" or "null".
  const figure = (value: number | null | undefined) =>
    value === null || value === undefined ? "" : String(value);
  for (const [key, value] of Object.entries(report.latencyMs)) core.setOutput(`${key}-ms`, figure(value));
  core.setOutput("throughput-rps", String(report.throughputRps));
  core.setOutput("requests", String(report.requests));
  core.setOutput("errors", String(report.errors));
  core.setOutput("error-rate", report.requests > 0 ? String(report.errors / report.requests) : "");
  core.setOutput("stable", String(report.stability.stable));
  core.setOutput("passed", String(report.passed !== false && (!result.sweep || result.sweep.best !== null)));
  if (report.streaming) {
    core.setOutput("ttft-p50-ms", figure(report.streaming.timeToFirstTokenMs.p50));
    core.setOutput("ttft-p99-ms", figure(report.streaming.timeToFirstTokenMs.p99));
    core.setOutput("tokens-per-s", String(report.streaming.tokensPerS));
  }
  if (result.sweep?.best) {
    const best = result.sweep.best;
    core.setOutput("best-load", String(best.mode.kind === "rate" ? best.mode.rps : best.mode.connections));
    core.setOutput("best-throughput-rps", String(best.throughputRps));
  }
  const file = await writeReport("benchmark", result.sweep ? { ...report, sweep: result.sweep } : report);
  core.setOutput("report", file);
  const markdown = benchmarkMarkdown(report);
  const markdownFile = join(file, "..", "benchmark.md");
  await writeFile(markdownFile, markdown);
  core.setOutput("markdown", markdownFile);
  await core.summary.addRaw(markdown, true).write();
  if (result.sweep && !result.sweep.best)
    throw new Error(`no load met the objective ${result.sweep.objective.join(", ")}`);
  const reasons = failureReasons(report);
  if (reasons.length > 0) throw new Error(reasons.join("; "));
}
