import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseRegression } from "../../bench/baseline.js";
import { benchmarkMarkdown } from "../../bench/markdown.js";
import { isProtocol, PROTOCOLS } from "../../bench/options.js";
import { chooseOutput, progressHooks } from "../../bench/progress.js";
import {
  describeMode,
  maskingLogger,
  parseHeader,
  runSession,
  type SessionSettings,
} from "../../bench/session.js";
import { parseSweep } from "../../bench/sweep.js";
import { parseThresholds } from "../../bench/thresholds.js";
import { benchmarkText } from "../../report/summary.js";
import { numberFlag, parse, UsageError } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

export const benchmark: Command = {
  summary: "load-test an inference endpoint (open loop --rate, closed loop --concurrency, or a sweep)",
  help: `usage: modelship benchmark --url URL [--protocol P] (--rate RPS | --concurrency N | --sweep-rates LIST
                          | --sweep-concurrency LIST --objective "p99 < 200") [options]
  --url URL            oip and openai-*: the server's base URL; json: the endpoint to POST to
  --protocol P         ${PROTOCOLS.join(", ")} (default oip)
  --model-name N       oip: the model; openai-*: fills "model" when a body has none
  --stream             openai-completions/chat: stream (SSE) and time tokens (TTFT, inter-token, tokens/s)
  --input FILE         JSONL, one request body per line (oip: without it, one request from the model's metadata)
  --template FILE      JSON body with "{{column}}" placeholders, filled from --rows FILE (.csv or JSONL)
  --duration S         measured seconds (default 10); --warmup S (default 1); --window S (default duration/5, ≥ 1)
  --timeout S          per-request timeout in seconds (default 10)
  --header "N: V"      extra request header (repeatable); --token-env VAR sends "Authorization: Bearer $VAR"
  --threshold "EXPR"   k6-style pass/fail (repeatable): "p95 < 200", "errors < 1%", "rps >= 50"; exit 1 on failure
  --baseline FILE      an earlier --json report; --max-regression 10% (default) fails on a worse percentile or throughput
  --command "CMD"      start the server under test first (no shell), wait until --url accepts connections
                       (and --ready-url answers 2xx; --ready-timeout S, default 60), stop it after
  --overhead           also measure the same load against a trivial local server (the generator's floor)
  --markdown FILE      write the Markdown summary (with a Mermaid chart) there
  --json               print the JSON report alone on stdout`,
  async run(argv) {
    const { values } = parse(argv, {
      url: { type: "string" },
      protocol: { type: "string", default: "oip" },
      "model-name": { type: "string" },
      stream: { type: "boolean" },
      input: { type: "string" },
      template: { type: "string" },
      rows: { type: "string" },
      rate: { type: "string" },
      concurrency: { type: "string" },
      "sweep-rates": { type: "string" },
      "sweep-concurrency": { type: "string" },
      objective: { type: "string", multiple: true },
      duration: { type: "string", default: "10" },
      warmup: { type: "string", default: "1" },
      window: { type: "string" },
      timeout: { type: "string" },
      header: { type: "string", multiple: true },
      "token-env": { type: "string" },
      threshold: { type: "string", multiple: true },
      baseline: { type: "string" },
      "max-regression": { type: "string" },
      command: { type: "string" },
      "ready-url": { type: "string" },
      "ready-timeout": { type: "string", default: "60" },
      overhead: { type: "boolean" },
      markdown: { type: "string" },
      json: { type: "boolean" },
    });
    if (!values.url) throw new UsageError("--url is required");
    const protocol = values.protocol;
    if (!isProtocol(protocol))
      throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(", ")}, got "${protocol}"`);
    const loads = [values.rate, values.concurrency, values["sweep-rates"], values["sweep-concurrency"]];
    if (loads.filter((v) => v !== undefined).length !== 1) {
      throw new UsageError(
        "give exactly one of --rate RPS (open loop), --concurrency N (closed loop), --sweep-rates LIST or --sweep-concurrency LIST",
      );
    }
    const modelName = values["model-name"];
    if (protocol === "oip" && !modelName)
      throw new UsageError("--model-name is required with --protocol oip");
    const usage = <T>(f: () => T): T => {
      try {
        return f();
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    };
    const rps = numberFlag("rate", values.rate, 0.1, 100_000);
    const connections = numberFlag("concurrency", values.concurrency, 1, 10_000);
    if (connections !== undefined && !Number.isInteger(connections)) {
      throw new UsageError(`--concurrency must be a whole number, got "${values.concurrency}"`);
    }
    const sweep = values["sweep-rates"]
      ? usage(() => parseSweep("rate", values["sweep-rates"] as string))
      : values["sweep-concurrency"]
        ? usage(() => parseSweep("concurrency", values["sweep-concurrency"] as string))
        : undefined;
    const objective = usage(() => parseThresholds(values.objective ?? []));
    if (sweep && objective.length === 0)
      throw new UsageError('a sweep needs --objective, e.g. --objective "p99 < 200"');
    if (!sweep && objective.length > 0)
      throw new UsageError("--objective is for sweeps; use --threshold for one run");
    const headers: Record<string, string> = {};
    for (const h of values.header ?? []) {
      const [name, value] = usage(() => parseHeader(h));
      headers[name.toLowerCase()] = value;
    }
    const secrets = Object.values(headers);
    const tokenEnv = values["token-env"];
    if (tokenEnv !== undefined) {
      const token = process.env[tokenEnv];
      if (!token)
        throw new UsageError(`--token-env ${tokenEnv}: that environment variable is not set or empty`);
      headers.authorization = `Bearer ${token}`;
      secrets.push(token);
    }
    if (values["max-regression"] !== undefined && !values.baseline) {
      throw new UsageError("--max-regression needs --baseline FILE");
    }
    const timeoutS = numberFlag("timeout", values.timeout, 0.001, 600);
    const windowS = numberFlag("window", values.window, 0.1, 86_400);
    const settings: SessionSettings = {
      url: values.url,
      protocol,
      ...(modelName ? { modelName } : {}),
      stream: values.stream ?? false,
      ...(values.input ? { input: resolve(values.input) } : {}),
      ...(values.template ? { template: resolve(values.template) } : {}),
      ...(values.rows ? { rows: resolve(values.rows) } : {}),
      mode:
        rps !== undefined ? { kind: "rate", rps } : { kind: "concurrency", connections: connections ?? 1 },
      ...(sweep ? { sweep } : {}),
      objective,
      durationS: numberFlag("duration", values.duration, 0.1, 86_400) as number,
      warmupS: numberFlag("warmup", values.warmup, 0, 3_600) as number,
      ...(windowS !== undefined ? { windowS } : {}),
      ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
      headers,
      ...(values.command ? { command: values.command } : {}),
      ...(values["ready-url"] ? { readyUrl: values["ready-url"] } : {}),
      readyTimeoutMs: (numberFlag("ready-timeout", values["ready-timeout"], 0.1, 3_600) as number) * 1000,
      overhead: values.overhead ?? false,
      thresholds: usage(() => parseThresholds(values.threshold ?? [])),
      ...(values.baseline
        ? {
            baseline: {
              file: resolve(values.baseline),
              maxRegression: usage(() => parseRegression(values["max-regression"] ?? "10%")),
            },
          }
        : {}),
    };
    const logger = maskingLogger(log, secrets);
    const output = chooseOutput({
      json: values.json ?? false,
      tty: process.stderr.isTTY === true,
      ci: Boolean(process.env.CI || process.env.GITHUB_ACTIONS),
    });
    const result = await runSession(settings, logger, progressHooks(output, logger));
    const { report } = result;
    if (values.markdown) await writeFile(resolve(values.markdown), benchmarkMarkdown(report));
    if (values.json) printJson(result.sweep ? { ...report, sweep: result.sweep } : report);
    else {
      if (result.sweep) {
        for (const step of result.sweep.steps) {
          print(
            `${describeMode(step.mode)}: ${step.throughputRps} req/s, p99 ${step.latencyMs.p99} ms, ${step.errors} errors ${step.meetsObjective ? "✓" : "✗ misses the objective"}`,
          );
        }
        print(
          result.sweep.best
            ? `best meeting ${result.sweep.objective.join(", ")}: ${describeMode(result.sweep.best.mode)} at ${result.sweep.best.throughputRps} req/s`
            : `no load met ${result.sweep.objective.join(", ")}`,
        );
      }
      print(benchmarkText(report));
      print(
        `stability: ${report.stability.stable === null ? "not judged" : report.stability.stable ? "stable" : "unstable"} (${report.stability.reason})`,
      );
      if (report.streaming) {
        const t = report.streaming;
        print(
          `streaming: TTFT p50 ${t.timeToFirstTokenMs.p50} ms p99 ${t.timeToFirstTokenMs.p99} ms, inter-token p50 ${t.interTokenMs.p50} ms, ${t.tokensPerS} tokens/s`,
        );
      }
      if (report.errors > 0)
        print(
          `errors: ${Object.entries(report.errorBreakdown)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}`,
        );
      if (report.overhead)
        print(
          `generator overhead (trivial local server): p50 ${report.overhead.latencyMs.p50} ms, p99 ${report.overhead.latencyMs.p99} ms`,
        );
      for (const t of report.thresholds ?? [])
        print(`threshold ${t.threshold}: ${t.pass ? "pass" : "FAIL"} (observed ${t.observed})`);
      if (report.baseline?.regressed) {
        const worse = report.baseline.changes
          .filter((c) => c.regressed)
          .map((c) => `${c.metric} ${c.baseline} → ${c.current}`);
        print(`regression against ${report.baseline.file}: ${worse.join(", ")}`);
      }
    }
    if (result.sweep && !result.sweep.best) return 1;
    return report.passed === false ? 1 : 0;
  },
};
