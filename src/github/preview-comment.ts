// The preview's report as Markdown, for the sticky PR comment and the job summary alike: the
// verdict first, then the tables (validation, accuracy stable vs candidate, agreement, latency of
// both on the same requests, benchmark) and a chart. Pure: report in, text out.
import type { GateResult } from "../gates/gates.js";
import type { PreviewReport } from "../pipeline/preview.js";
import { rolloutLatencyChart, trackLatency } from "../report/rollout-chart.js";
import { benchmarkHeaders, benchmarkRows } from "../report/summary.js";
import { type Cell, markdownTable } from "../util/table.js";

export interface PreviewContext {
  pullRequest: number;
  headSha?: string;
  runUrl?: string;
  /** The live preview's URL, where there is one. */
  url?: string;
  /** Things skipped (a fork's missing credentials), said at the top. */
  notices?: string[];
  /** When this was written (ISO). */
  at: string;
}

const num = (v: number | undefined, digits = 3) =>
  v === undefined || !Number.isFinite(v) ? "–" : String(Number(v.toFixed(digits)));
// "–" for a track with no successful request: its summary's zeros are not a latency.
const ms = (v: number | undefined) => (v === undefined ? "–" : `${v.toFixed(2)} ms`);
const icon = { pass: "✅", fail: "❌", inconclusive: "❔" } as const;
const short = (digest: string) => `\`${digest.slice(0, 19)}…\``;

/** Every gate verdict of the rollout's last step (the eval set's included), or the first deployment's. */
function gatesOf(report: PreviewReport): GateResult[] {
  const c = report.comparison;
  if (c?.rollout) return c.rollout.steps.at(-1)?.gates ?? [];
  return c?.firstDeployment?.gates ?? [];
}

const partOf = (gates: GateResult[], name: GateResult["gate"]) =>
  gates.flatMap((g) => [g, ...(g.parts ?? [])]).find((g) => g.gate === name);

function accuracySection(gates: GateResult[]): string[] {
  const min = partOf(gates, "accuracy-min");
  const paired = partOf(gates, "accuracy-vs-stable");
  const agreement = partOf(gates, "agreement");
  if (!min && !paired && !agreement) return [];
  const out = ["### Accuracy on the eval set (same rows, both models)"];
  if (paired) {
    const f = paired.figures ?? {};
    out.push(
      markdownTable(
        ["production", "candidate", "Δ (95% CI)", "test", "p-value", "verdict"],
        [
          [
            num(f.stableAccuracy),
            num(f.canaryAccuracy),
            `${num(paired.estimate)} (${num(paired.interval?.[0])} … ${num(paired.interval?.[1])})`,
            paired.test ?? "",
            num(paired.pValue, 4),
            `${icon[paired.status]} ${paired.status}`,
          ],
        ],
      ),
    );
  } else if (min) {
    out.push(
      markdownTable(
        ["candidate", "minimum", "verdict"],
        [[num(min.observed), num(min.threshold), `${icon[min.status]} ${min.status}`]],
      ),
    );
  }
  if (agreement) {
    const f = agreement.figures ?? {};
    out.push(
      "",
      markdownTable(
        ["agreement", "rows agreeing", "class drift (Jensen–Shannon)", "minimum", "verdict"],
        [
          [
            `${num((f.agreement ?? Number.NaN) * 100, 1)}%`,
            `${f.agreeing ?? "–"}/${agreement.samples}`,
            num(f.jensenShannon, 4),
            num(agreement.threshold),
            `${icon[agreement.status]} ${agreement.status}`,
          ],
        ],
      ),
    );
  }
  return out;
}

function latencySection(report: PreviewReport): string[] {
  const steps = report.comparison?.rollout?.steps.filter((s) => s.durationS > 0) ?? [];
  if (steps.length === 0) return [];
  const rows: Cell[][] = steps.flatMap((s, i) => [
    [
      `step ${i + 1} (${s.weight}%)`,
      "production",
      s.stable.requests,
      ms(trackLatency(s.stable)?.p50),
      ms(trackLatency(s.stable)?.p95),
      ms(trackLatency(s.stable)?.p99),
      s.stable.errors,
    ],
    [
      "",
      "candidate",
      s.canary.requests,
      ms(trackLatency(s.canary)?.p50),
      ms(trackLatency(s.canary)?.p95),
      ms(trackLatency(s.canary)?.p99),
      s.canary.errors,
    ],
  ]);
  const chart = report.comparison?.rollout ? rolloutLatencyChart(report.comparison.rollout) : "";
  return [
    "### Latency, both models on the same traffic",
    markdownTable(["step", "model", "requests", "p50", "p95", "p99", "errors"], rows),
    ...(chart ? ["", chart] : []),
  ];
}

/** The comment's and the summary's Markdown. */
export function previewMarkdown(report: PreviewReport, context: PreviewContext): string {
  const pass = report.verdict === "pass";
  const against = report.production
    ? report.production.source === "ledger"
      ? `production's stable revision ${report.production.revision}`
      : `the model at the base commit ${report.production.sha?.slice(0, 12)}`
    : "nothing (no model in production yet: judged as a first deployment)";
  const where =
    report.comparedIn === "cluster"
      ? " Compared through the cluster: the candidate ran as its live preview's pod and production as the stable Deployment's pod, both reached through port-forwards (this runner cannot run the model's runtime)."
      : "";
  const parts: string[] = [
    `## ${pass ? "✅" : "❌"} modelship preview: ${report.model.name} ${pass ? "would pass" : "would not pass"} the production gates`,
    `**${pass ? "pass" : "fail"}**: ${report.reason}`,
    `PR #${context.pullRequest}${context.headSha ? ` at ${context.headSha.slice(0, 12)}` : ""}, compared with ${against}.${where}`,
  ];
  for (const notice of context.notices ?? []) parts.push(`> [!NOTE]\n> ${notice}`);
  const access = report.live?.access;
  if (context.url || access) {
    const lines = [`Live preview: ${context.url ?? access?.url}`];
    // Without the header a shared host serves production: the preview is never in its path.
    if (access) lines.push(`Reached ${access.how}.`);
    parts.push(lines.join("\n"));
  }

  const v = report.validation;
  const changes = v.compatibility?.changes ?? [];
  parts.push(
    "### Validation",
    markdownTable(
      ["format", "model digest", "errors", "warnings", "signature vs production"],
      [
        [
          v.format,
          short(report.model.digest),
          v.findings.filter((f) => f.severity === "error").length,
          v.findings.filter((f) => f.severity === "warning").length,
          report.production ? (changes.length ? `${changes.length} change(s)` : "unchanged") : "–",
        ],
      ],
    ),
  );
  const findings = v.findings.filter((f) => f.severity !== "info");
  if (findings.length)
    parts.push(
      markdownTable(
        ["severity", "code", "file", "message"],
        findings.map((f) => [f.severity, f.code, f.file ?? "", f.message]),
      ),
    );

  const gates = gatesOf(report);
  parts.push(...accuracySection(gates));
  parts.push(...latencySection(report));
  if (gates.length) {
    parts.push(
      "### Every gate",
      markdownTable(
        ["gate", "verdict", "evidence"],
        gates.map((g) => [g.name ?? g.gate, `${icon[g.status]} ${g.status}`, g.message]),
      ),
    );
  }
  const unchecked = report.comparison?.firstDeployment?.unchecked ?? [];
  if (unchecked.length) parts.push(`Not checked: ${unchecked.join("; ")}`);
  if (report.benchmark)
    parts.push(
      "### Benchmark of the candidate alone",
      markdownTable(benchmarkHeaders, benchmarkRows(report.benchmark)),
    );
  if (report.notes.length) parts.push("### How it was judged", report.notes.map((n) => `- ${n}`).join("\n"));
  if (report.production) parts.push(`Production model digest ${short(report.production.digest)}.`);
  parts.push(
    `<sub>modelship preview · updated ${context.at}${context.runUrl ? ` · [run](${context.runUrl})` : ""}</sub>`,
  );
  return `${parts.filter(Boolean).join("\n\n")}\n`;
}

/** The comment once the PR is closed: a banner above the last evaluation, kept folded. */
export function closedMarkdown(
  previous: string | undefined,
  context: { at: string; removed: string[]; runUrl?: string },
): string {
  const removed = context.removed.length
    ? `Removed: ${context.removed.join(", ")}.`
    : "Nothing was left running.";
  const parts = [
    "## 🧹 modelship preview closed",
    `The pull request was closed; its preview deployment is marked inactive. ${removed}`,
  ];
  if (previous?.trim()) {
    // The last evaluation, without an earlier closed banner and folded.
    const open = previous.indexOf("<details>");
    const close = previous.lastIndexOf("</details>");
    const last =
      open >= 0 && close > open
        ? previous.slice(open, close + "</details>".length)
        : `<details><summary>last evaluation</summary>\n\n${previous.trim()}\n\n</details>`;
    parts.push(last);
  }
  parts.push(
    `<sub>modelship preview · closed ${context.at}${context.runUrl ? ` · [run](${context.runUrl})` : ""}</sub>`,
  );
  return `${parts.join("\n\n")}\n`;
}
