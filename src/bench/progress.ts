import type { Logger } from "../util/log.js";
import type { BenchmarkProgress } from "./report.js";
import { msText } from "./report.js";
import type { BenchmarkHooks } from "./run.js";
import type { WindowReport } from "./windows.js";

export function progressLine(p: BenchmarkProgress): string {
  const rate = p.elapsedS > 0 ? p.requests / p.elapsedS : 0;
  return `${p.elapsedS.toFixed(0)}s: ${p.requests} requests (${rate.toFixed(1)}/s), ${p.errors} errors, p99 ${msText(p.p99Ms, 1)}`;
}

export function windowLine(w: WindowReport, index: number): string {
  const ms = (v: number | null) => (v === null ? "–" : `${v} ms`);
  return `window ${index + 1} (${w.startS}s+${w.durationS}s): ${w.requests} requests, ${w.throughputRps} req/s, ${w.errors} errors, p50 ${ms(w.latencyMs.p50)}, p99 ${ms(w.latencyMs.p99)}`;
}

export type Output = "quiet" | "terminal" | "log";

/** quiet with --json; a line a second on a terminal; a line per window in CI and other logs. */
export function chooseOutput(options: { json: boolean; tty: boolean; ci: boolean }): Output {
  if (options.json) return "quiet";
  return options.tty && !options.ci ? "terminal" : "log";
}

export function progressHooks(output: Output, logger: Logger): BenchmarkHooks {
  if (output === "terminal") return { onProgress: (p) => logger.info(progressLine(p)) };
  if (output === "log") return { onWindow: (w, i) => logger.info(windowLine(w, i)) };
  return {};
}
