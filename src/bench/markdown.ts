// The benchmark as a job summary: headline table, a Mermaid chart GitHub renders (percentiles, and
// p99 per window), stability, errors, streaming figures, thresholds and the baseline comparison.
import { noSuccessReason } from "./judge.js";
import { type BenchmarkReport, hasFigures, msText as ms, type Percentiles } from "./report.js";

const LABELS: [keyof Percentiles, string][] = [
  ["p50", "p50"],
  ["p90", "p90"],
  ["p95", "p95"],
  ["p99", "p99"],
  ["p999", "p99.9"],
  ["max", "max"],
];

// Cells come from server responses (error keys) and file names: keep them from breaking the table.
const cell = (v: string | number) => String(v).replace(/[|\n\r`]/g, " ");
function table(headers: string[], rows: (string | number)[][]): string {
  return [
    `| ${headers.join(" | ")} |`,
    `| ${headers.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.map(cell).join(" | ")} |`),
  ].join("\n");
}

const pct = (change: number | null) =>
  change === null ? "n/a" : `${change > 0 ? "+" : ""}${(change * 100).toFixed(1)}%`;

/** Percentile bars (and the baseline as a line when there is one); none without latency figures. */
export function latencyChart(report: BenchmarkReport): string {
  if (!hasFigures(report.latencyMs)) return "";
  const labels = LABELS.slice(0, 5);
  const values = (p: Percentiles) => labels.map(([k]) => p[k].toFixed(2)).join(", ");
  const lines = [
    "```mermaid",
    "xychart-beta",
    `  title "Latency percentiles (ms)${report.baseline ? ": bars this run, line baseline" : ""}"`,
    `  x-axis [${labels.map(([, l]) => `"${l}"`).join(", ")}]`,
    '  y-axis "ms"',
    `  bar [${values(report.latencyMs)}]`,
  ];
  if (report.baseline) {
    const b = Object.fromEntries(report.baseline.changes.map((c) => [c.metric, c.baseline])) as Record<
      string,
      number
    >;
    lines.push(`  line [${labels.map(([k]) => (b[k] ?? 0).toFixed(2)).join(", ")}]`);
  }
  lines.push("```");
  return lines.join("\n");
}

/**
 * p99 per window: a drift or a stall shows as a step. Windows without a successful request have no
 * p99; they are left off the chart and named under it (a chart line cannot have a gap).
 */
export function windowChart(report: BenchmarkReport): string {
  const timed = report.windows.filter((w) => w.latencyMs.p99 !== null);
  const untimed = report.windows.filter((w) => w.latencyMs.p99 === null);
  const note = untimed.length
    ? `No successful request in the window(s) at ${untimed.map((w) => `${w.startS}s`).join(", ")}: no latency there.`
    : "";
  if (timed.length < 2) return note;
  return [
    "```mermaid",
    "xychart-beta",
    '  title "p99 latency per window (ms)"',
    `  x-axis [${timed.map((w) => `"${w.startS}s"`).join(", ")}]`,
    '  y-axis "ms"',
    `  line [${timed.map((w) => (w.latencyMs.p99 as number).toFixed(2)).join(", ")}]`,
    "```",
    ...(note ? ["", note] : []),
  ].join("\n");
}

export function benchmarkMarkdown(report: BenchmarkReport, title = "⏱️ modelship benchmark"): string {
  const s = report.settings;
  const load =
    s.mode.kind === "rate"
      ? `${s.mode.rps} req/s open loop`
      : `${s.mode.connections} connections closed loop`;
  const verdict = report.passed === undefined ? "" : report.passed ? " ✅ passed" : " ❌ failed";
  const parts = [
    `## ${title}${verdict}`,
    `${s.protocol}, ${load}, ${report.measuredS} s measured after ${s.warmupS} s warmup${report.aborted ? " (stopped early)" : ""}`,
    table(
      ["requests", "req/s", ...LABELS.map(([, l]) => l), "errors"],
      [
        [
          report.requests,
          report.throughputRps.toFixed(1),
          ...LABELS.map(([k]) => ms(report.latencyMs[k])),
          report.errors,
        ],
      ],
    ),
  ];
  const none = noSuccessReason(report);
  parts.push(none ? `⚠️ ${none[0]?.toUpperCase()}${none.slice(1)}.` : latencyChart(report));
  const st = report.stability;
  parts.push(
    `**Stability:** ${st.stable === null ? "not judged" : st.stable ? "stable" : "⚠️ unstable"}: ${st.reason}`,
  );
  if (report.behindSchedule) {
    parts.push(
      `⚠️ The generator fell behind its schedule (up to ${report.maxScheduleLagMs} ms late): the server saw less load than asked.`,
    );
  }
  const w = windowChart(report);
  if (w) parts.push(w);
  if (report.errors > 0) {
    parts.push(
      "### Errors",
      table(
        ["cause", "count"],
        Object.entries(report.errorBreakdown).sort((a, b) => b[1] - a[1]),
      ),
    );
  }
  if (report.streaming) {
    const t = report.streaming;
    parts.push(
      "### Streaming",
      table(
        ["", "p50", "p90", "p99", "max"],
        [
          [
            "time to first token",
            ms(t.timeToFirstTokenMs.p50),
            ms(t.timeToFirstTokenMs.p90),
            ms(t.timeToFirstTokenMs.p99),
            ms(t.timeToFirstTokenMs.max),
          ],
          [
            "inter-token latency",
            ms(t.interTokenMs.p50),
            ms(t.interTokenMs.p90),
            ms(t.interTokenMs.p99),
            ms(t.interTokenMs.max),
          ],
        ],
      ),
      `${t.tokens} tokens, ${t.tokensPerS} tokens/s`,
    );
  }
  if (report.overhead) {
    const o = report.overhead;
    parts.push(
      `**Generator overhead** (same load against a trivial local server): p50 ${ms(o.latencyMs.p50)}, p99 ${ms(o.latencyMs.p99)}, ${o.throughputRps} req/s`,
    );
  }
  if (report.thresholds?.length) {
    parts.push(
      "### Thresholds",
      table(
        ["threshold", "observed", "result"],
        report.thresholds.map((t) => [
          t.threshold,
          Number.isNaN(t.observed) ? "no data" : t.observed,
          t.pass ? "✅ pass" : "❌ fail",
        ]),
      ),
    );
  }
  if (report.baseline) {
    const b = report.baseline;
    parts.push(
      `### Against baseline (fails above ${(b.maxRegression * 100).toFixed(1)}% worse)`,
      table(
        ["metric", "baseline", "this run", "change", ""],
        b.changes.map((c) => [
          c.metric,
          c.baseline,
          c.current ?? "–",
          pct(c.change),
          c.regressed ? "❌ regressed" : "",
        ]),
      ),
    );
    if (b.settingsDiffer.length > 0)
      parts.push(`⚠️ The baseline ran with a different ${b.settingsDiffer.join(" and ")}.`);
  }
  return `${parts.join("\n\n")}\n`;
}
