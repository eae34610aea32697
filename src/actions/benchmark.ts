import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as core from "@actions/core";
import { parseRegression } from "../bench/baseline.js";
import { failureReasons } from "../bench/judge.js";
import { benchmarkMarkdown } from "../bench/markdown.js";
import { isProtocol, type LoadMode, PROTOCOLS } from "../bench/options.js";
import { progressHooks } from "../bench/progress.js";
import { maskingLogger, parseHeader, runSession, type SessionSettings } from "../bench/session.js";
import { parseSweep } from "../bench/sweep.js";
import { parseThresholds } from "../bench/thresholds.js";
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
const lines = (name: string) =>
  core
    .getInput(name)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
/** "true"/"false" (any case), empty → false; anything else is an error rather than a guess. */
const flag = (name: string): boolean => {
  const raw = core.getInput(name).trim().toLowerCase();
  if (raw === "" || raw === "false") return false;
  if (raw === "true") return true;
  throw new Error(`input ${name} must be true or false, got "${core.getInput(name)}"`);
};
const optional = (name: string) => core.getInput(name) || undefined;
const inputError =
  (name: string) =>
  <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new Error(`input ${name}: ${(err as Error).message}`);
    }
  };

/** Inputs → session settings; secrets are registered with the runner before anything can print them. */
export function settingsFromInputs(): { settings: SessionSettings; secrets: string[] } {
  const token = core.getInput("token");
  const secrets: string[] = [];
  const headers: Record<string, string> = {};
  for (const h of lines("headers")) {
    const [name, value] = inputError("headers")(() => parseHeader(h));
    headers[name.toLowerCase()] = value;
    // Header values often carry credentials (api keys); mask them all.
    if (value) secrets.push(value);
  }
  if (token) {
    headers.authorization = `Bearer ${token}`;
    secrets.push(token);
  }
  for (const s of secrets) core.setSecret(s);

  const url = core.getInput("url", { required: true });
  const protocol = core.getInput("protocol") || "oip";
  if (!isProtocol(protocol))
    throw new Error(`input protocol must be one of ${PROTOCOLS.join(", ")}, got "${protocol}"`);
  const rps = number("rate");
  const connections = number("concurrency", undefined, 1);
  const sweepRates = optional("sweep-rates");
  const sweepConcurrency = optional("sweep-concurrency");
  if ([rps, connections, sweepRates, sweepConcurrency].filter((v) => v !== undefined).length > 1) {
    throw new Error("give at most one of inputs rate, concurrency, sweep-rates, sweep-concurrency");
  }
  if (connections !== undefined && !Number.isInteger(connections)) {
    throw new Error(`input concurrency must be a whole number, got "${connections}"`);
  }
  const mode: LoadMode =
    connections !== undefined ? { kind: "concurrency", connections } : { kind: "rate", rps: rps ?? 20 };
  const sweep = sweepRates
    ? inputError("sweep-rates")(() => parseSweep("rate", sweepRates))
    : sweepConcurrency
      ? inputError("sweep-concurrency")(() => parseSweep("concurrency", sweepConcurrency))
      : undefined;
  const objective = inputError("objective")(() => parseThresholds(lines("objective")));
  if (sweep && objective.length === 0) throw new Error('a sweep needs input objective, e.g. "p99 < 200"');
  const baseline = optional("baseline");
  const timeoutS = number("timeout");
  const windowS = number("window");
  const modelName = optional("model-name");
  const path = (name: string) => (optional(name) ? resolve(optional(name) as string) : undefined);
  const settings: SessionSettings = {
    url,
    protocol,
    ...(modelName ? { modelName } : {}),
    stream: flag("stream"),
    ...(path("input") ? { input: path("input") } : {}),
    ...(path("template") ? { template: path("template") } : {}),
    ...(path("rows") ? { rows: path("rows") } : {}),
    mode,
    ...(sweep ? { sweep } : {}),
    objective,
    durationS: number("duration", 10) as number,
    warmupS: number("warmup", 1, 0) as number,
    ...(windowS !== undefined ? { windowS } : {}),
    ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
    headers,
    ...(optional("command") ? { command: optional("command") } : {}),
    ...(optional("ready-url") ? { readyUrl: optional("ready-url") } : {}),
    readyTimeoutMs: (number("ready-timeout", 60) as number) * 1000,
    overhead: flag("overhead"),
    thresholds: inputError("thresholds")(() => parseThresholds(lines("thresholds"))),
    ...(baseline
      ? {
          baseline: {
            file: resolve(baseline),
            maxRegression: inputError("max-regression")(() =>
              parseRegression(core.getInput("max-regression") || "10%"),
            ),
          },
        }
      : {}),
  };
  return { settings, secrets };
}

export async function benchmarkAction(): Promise<void> {
  const { settings, secrets } = settingsFromInputs();
  const logger = maskingLogger(actionLogger, secrets);
  // In a CI log a line per window, not one a second.
  const result = await runSession(settings, logger, progressHooks("log", logger));
  const { report } = result;
  for (const [key, value] of Object.entries(report.latencyMs)) core.setOutput(`${key}-ms`, String(value));
  core.setOutput("throughput-rps", String(report.throughputRps));
  core.setOutput("requests", String(report.requests));
  core.setOutput("errors", String(report.errors));
  core.setOutput("error-rate", String(report.requests > 0 ? report.errors / report.requests : 0));
  core.setOutput("stable", String(report.stability.stable));
  core.setOutput("passed", String(report.passed !== false && (!result.sweep || result.sweep.best !== null)));
  if (report.streaming) {
    core.setOutput("ttft-p50-ms", String(report.streaming.timeToFirstTokenMs.p50));
    core.setOutput("ttft-p99-ms", String(report.streaming.timeToFirstTokenMs.p99));
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
