// One benchmark as the CLI and the action run it: bodies from their source, the server under test
// started and stopped when asked, a single run or a sweep, the overhead measured, the verdict given.
// Entries only parse their inputs into SessionSettings and render the result.
import { validateHeaderName, validateHeaderValue } from "node:http";
import type { Logger } from "../util/log.js";
import { loadBaseline } from "./baseline.js";
import { loadBodies, synthesizeOipBody } from "./bodies.js";
import { splitArgv, withServer } from "./command.js";
import { judge } from "./judge.js";
import { type LoadMode, type Protocol, resolveEndpoint, socketAddress } from "./options.js";
import { measureOverhead } from "./overhead.js";
import type { BenchmarkReport } from "./report.js";
import { type BenchmarkHooks, runBenchmark } from "./run.js";
import { runSweep, type SweepReport } from "./sweep.js";
import { fillTemplate, loadRows, loadTemplate } from "./template.js";
import type { Threshold } from "./thresholds.js";

export interface SessionSettings {
  url: string;
  protocol: Protocol;
  modelName?: string;
  stream: boolean;
  /** Request bodies: a JSONL file, or a template filled from rows; oip without either synthesises one. */
  input?: string;
  template?: string;
  rows?: string;
  mode: LoadMode;
  /** When set, these loads are run in turn instead of `mode`. */
  sweep?: LoadMode[];
  objective: Threshold[];
  durationS: number;
  warmupS: number;
  windowS?: number;
  timeoutMs?: number;
  headers: Record<string, string>;
  command?: string;
  readyUrl?: string;
  readyTimeoutMs: number;
  overhead: boolean;
  thresholds: Threshold[];
  baseline?: { file: string; maxRegression: number };
  signal?: AbortSignal;
}

export interface SessionResult {
  /** The single run, or for a sweep the best step's run (the first step's when none met the objective). */
  report: BenchmarkReport;
  sweep?: SweepReport;
}

const SHAPE = 'write it as "Name: value"';

/**
 * "Name: value" → [name, value], checked as HTTP will (a token for a name, no control characters in
 * the value). Errors say what is wrong and show at most the name: the value may be a secret, and
 * text without a ":" may be nothing but one.
 */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon < 0) throw new Error(`has no ":" between a name and a value (its text is not shown); ${SHAPE}`);
  const name = text.slice(0, colon).trim();
  if (name === "") throw new Error(`has no name before ":"; ${SHAPE}`);
  const space = /\s/.exec(name);
  if (space) {
    const before = name.slice(0, space.index);
    throw new Error(`has a space in its name (after ${JSON.stringify(shorten(before))}); ${SHAPE}`);
  }
  try {
    validateHeaderName(name);
  } catch {
    throw new Error(
      `has a name, ${JSON.stringify(shorten(name))}, that HTTP does not allow (letters, digits and !#$%&'*+-.^_\`|~ only)`,
    );
  }
  const value = text.slice(colon + 1).trim();
  try {
    validateHeaderValue(name, value);
  } catch {
    throw new Error(`has a control character (a line break, a NUL…) in the value of ${JSON.stringify(name)}`);
  }
  return [name, value];
}

const shorten = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** A logger that never prints any of `secrets`, whatever a server echoes back into a message. */
export function maskingLogger(logger: Logger, secrets: readonly string[]): Logger {
  const live = secrets.filter((s) => s.length >= 4);
  const mask = (m: string) => live.reduce((text, s) => text.split(s).join("***"), m);
  return {
    info: (m) => logger.info(mask(m)),
    warn: (m) => logger.warn(mask(m)),
    error: (m) => logger.error(mask(m)),
  };
}

async function bodiesFor(s: SessionSettings): Promise<unknown[]> {
  if (s.input && s.template)
    throw new Error("give request bodies either as input (JSONL) or as a template, not both");
  if (s.template) {
    if (!s.rows) throw new Error("a template needs rows (a CSV or JSONL file) to fill it");
    return fillTemplate(await loadTemplate(s.template), await loadRows(s.rows));
  }
  if (s.rows) throw new Error("rows are only used with a template");
  if (s.input) return loadBodies(s.input);
  if (s.protocol === "oip" && s.modelName) return [await synthesizeOipBody(s.url, s.modelName)];
  throw new Error(
    "request bodies are needed: an input JSONL file, or a template with rows (oip with a model name can do without)",
  );
}

export async function runSession(
  s: SessionSettings,
  logger: Logger,
  hooks: BenchmarkHooks = {},
): Promise<SessionResult> {
  // Checked before anything starts, so a bad file never costs a server start-up or a run.
  const baseline = s.baseline ? await loadBaseline(s.baseline.file) : undefined;
  if (s.sweep && s.objective.length === 0) throw new Error('a sweep needs an objective, e.g. "p99 < 200"');
  const argv = s.command ? splitArgv(s.command) : undefined;

  const body = async (): Promise<SessionResult> => {
    const bodies = await bodiesFor(s);
    const run = (mode: LoadMode) =>
      runBenchmark(
        {
          url: s.url,
          protocol: s.protocol,
          ...(s.modelName !== undefined ? { modelName: s.modelName } : {}),
          stream: s.stream,
          bodies,
          mode,
          durationS: s.durationS,
          warmupS: s.warmupS,
          ...(s.windowS !== undefined ? { windowS: s.windowS } : {}),
          ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
          headers: s.headers,
          ...(s.signal ? { signal: s.signal } : {}),
        },
        hooks,
      );
    if (!s.sweep) return { report: await run(s.mode) };
    const reports: BenchmarkReport[] = [];
    const sweep = await runSweep(s.sweep, s.objective, async (mode, i) => {
      logger.info(`sweep step ${i + 1}/${s.sweep?.length}: ${describeMode(mode)}`);
      const r = await run(mode);
      reports.push(r);
      return r;
    });
    const bestIndex = sweep.best ? sweep.steps.indexOf(sweep.best) : 0;
    return { report: reports[bestIndex] as BenchmarkReport, sweep };
  };

  let result: SessionResult;
  if (argv) {
    const { host, port } = socketAddress(resolveEndpoint(s.url, s.protocol, s.modelName));
    logger.info(`starting the server under test: ${argv[0]} (${argv.length - 1} argument(s))`);
    result = await withServer(
      {
        argv,
        host,
        port,
        ...(s.readyUrl ? { readyUrl: s.readyUrl } : {}),
        readyTimeoutMs: s.readyTimeoutMs,
      },
      body,
    );
    logger.info("stopped the server under test");
  } else {
    result = await body();
  }

  let report = result.report;
  if (s.overhead) report = { ...report, overhead: await measureOverhead(report.settings.mode) };
  report = judge(report, {
    thresholds: s.thresholds,
    ...(baseline && s.baseline
      ? { baseline: { report: baseline, file: s.baseline.file, maxRegression: s.baseline.maxRegression } }
      : {}),
  });
  return { ...result, report };
}

export function describeMode(mode: LoadMode): string {
  return mode.kind === "rate" ? `${mode.rps} req/s` : `${mode.connections} connections`;
}
