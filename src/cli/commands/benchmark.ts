import { writeFile } from "node:fs/promises";
import { noSuccessReason } from "../../bench/judge.js";
import { benchmarkMarkdown } from "../../bench/markdown.js";
import { PROTOCOLS } from "../../bench/options.js";
import { chooseOutput, progressHooks } from "../../bench/progress.js";
import { msText } from "../../bench/report.js";
import { describeMode, maskingLogger, runSession } from "../../bench/session.js";
import { benchmarkText } from "../../report/summary.js";
import { benchmarkParser } from "../../settings/benchmark.js";
import { settingsFromArgv } from "../args.js";
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
  --duration D         measured time (default 10s); --warmup D (default 1s); --window D (default duration/5, ≥ 1s)
                       durations as in modelship.yml: 10 (seconds), "10s", "500ms", "2m"
  --timeout D          per-request timeout (default 10s)
  --header "N: V"      extra request header (repeatable); --token-env VAR sends "Authorization: Bearer $VAR"
  --threshold "EXPR"   k6-style pass/fail (repeatable): "p95 < 200", "errors < 1%", "rps >= 50"; exit 1 on failure
  --baseline FILE      an earlier --json report; --max-regression 10% (default) fails on a worse percentile or throughput
  --command "CMD"      start the server under test first (no shell), wait until --url accepts connections
                       (and --ready-url answers 2xx; --ready-timeout D, default 60s), stop it after
  --overhead           also measure the same load against a trivial local server (the generator's floor)
  --markdown FILE      write the Markdown summary (with a Mermaid chart) there
  --json               print the JSON report alone on stdout`,
  async run(argv) {
    const { session, secrets, markdown, json } = settingsFromArgv(benchmarkParser, argv);
    const logger = maskingLogger(log, secrets);
    const output = chooseOutput({
      json,
      tty: process.stderr.isTTY === true,
      ci: Boolean(process.env.CI || process.env.GITHUB_ACTIONS),
    });
    const result = await runSession(session, logger, progressHooks(output, logger));
    const { report } = result;
    if (markdown) await writeFile(markdown, benchmarkMarkdown(report));
    if (json) printJson(result.sweep ? { ...report, sweep: result.sweep } : report);
    else {
      if (result.sweep) {
        for (const step of result.sweep.steps) {
          print(
            `${describeMode(step.mode)}: ${step.throughputRps} req/s, p99 ${msText(step.latencyMs.p99)}, ${step.errors} errors ${step.meetsObjective ? "✓" : "✗ misses the objective"}`,
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
          `streaming: TTFT p50 ${msText(t.timeToFirstTokenMs.p50)} p99 ${msText(t.timeToFirstTokenMs.p99)}, inter-token p50 ${msText(t.interTokenMs.p50)}, ${t.tokensPerS} tokens/s`,
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
          `generator overhead (trivial local server): p50 ${msText(report.overhead.latencyMs.p50)}, p99 ${msText(report.overhead.latencyMs.p99)}`,
        );
      const none = noSuccessReason(report);
      if (none) print(`${report.thresholds?.length ? "note" : "FAIL"}: ${none}`);
      for (const t of report.thresholds ?? [])
        print(
          `threshold ${t.threshold}: ${t.pass ? "pass" : "FAIL"} (observed ${Number.isNaN(t.observed) ? "no data" : t.observed})`,
        );
      if (report.baseline?.regressed) {
        const worse = report.baseline.changes
          .filter((c) => c.regressed)
          .map((c) => `${c.metric} ${c.baseline} → ${c.current ?? "–"}`);
        print(`regression against ${report.baseline.file}: ${worse.join(", ")}`);
      }
    }
    if (result.sweep && !result.sweep.best) return 1;
    return report.passed === false ? 1 : 0;
  },
};
