import { msText } from "../bench/report.js";
import type { BenchmarkReport } from "../bench/run.js";
import type { DeployReport } from "../pipeline/deploy.js";
import type { PipelineReport } from "../pipeline/run.js";
import type { RolloutReport } from "../rollout/canary.js";
import { type Cell, markdownTable, textTable } from "../util/table.js";
import { evidenceHeaders, evidenceRows, pairedLine } from "./evidence.js";
import { rolloutLatencyChart, trackLatency } from "./rollout-chart.js";

// "–" where there is no figure: a run with no successful request, a track that served none.
const ms = (value: number | null | undefined) => msText(value);

export function benchmarkRows(report: BenchmarkReport): Cell[][] {
  const l = report.latencyMs;
  return [
    [
      report.requests,
      report.throughputRps.toFixed(1),
      ms(l.p50),
      ms(l.p90),
      ms(l.p95),
      ms(l.p99),
      // Reports written before p99.9 was measured have none.
      ms(l.p999),
      ms(l.max),
      report.errors,
    ],
  ];
}
export const benchmarkHeaders = ["requests", "req/s", "p50", "p90", "p95", "p99", "p99.9", "max", "errors"];

export const rolloutHeaders = [
  "step",
  "weight",
  "canary req",
  "canary p95",
  "stable p95",
  "canary errors",
  "gates",
];
export function rolloutRows(rollout: RolloutReport): Cell[][] {
  return rollout.steps.map((step, i) => [
    step.durationS === 0 ? "pre-traffic" : String(i + 1 - (rollout.steps[0]?.durationS === 0 ? 1 : 0)),
    `${step.weight}%`,
    step.canary.requests,
    ms(trackLatency(step.canary)?.p95),
    ms(trackLatency(step.stable)?.p95),
    step.canary.errors,
    step.gates
      .map((g) => `${g.gate} ${g.status} (${Number.isNaN(g.observed) ? "n/a" : g.observed})`)
      .join(", "),
  ]);
}

/** One line on the canary an earlier run left unfinished, and what this run did with it. */
export function leftoverText(leftover: NonNullable<DeployReport["leftover"]>): string {
  return leftover.action === "resumed"
    ? `canary ${leftover.revision}, left unfinished by an earlier run, was resumed from its recorded step`
    : `canary ${leftover.revision}, left unfinished by an earlier run, was reverted: ${leftover.reason}`;
}

const icon = (outcome: PipelineReport["outcome"]) =>
  ({ rejected: "❌", reverted: "↩️", promoted: "✅", deployed: "✅" })[outcome];

/** The job summary: one screen that says what happened and why, with the figures behind it. */
export function pipelineMarkdown(report: PipelineReport): string {
  const parts = [
    `## ${icon(report.outcome)} modelship: ${report.model.name} ${report.outcome}`,
    report.deploy ? `**${report.deploy.revision}**: ${report.deploy.reason}` : "",
    report.deploy?.leftover ? `⚠️ ${leftoverText(report.deploy.leftover)}` : "",
    report.reason ? `**rejected**: ${report.reason}` : "",
    markdownTable(
      ["model", "format", "digest", "findings"],
      [
        [
          report.model.path,
          report.validation.format,
          `\`${report.model.digest}\``,
          report.validation.findings.length,
        ],
      ],
    ),
  ];
  if (report.benchmark)
    parts.push("### Benchmark", markdownTable(benchmarkHeaders, benchmarkRows(report.benchmark)));
  if (report.build) parts.push("### Image", `\`${report.build.image}\``);
  const first = report.deploy?.firstDeployment;
  if (first) {
    parts.push(
      "### First deployment (nothing to compare with: the absolute gates)",
      markdownTable(evidenceHeaders, evidenceRows(first.gates)),
    );
    if (first.unchecked.length) parts.push(`⚠️ went out unchecked: ${first.unchecked.join("; ")}`);
  }
  if (report.deploy?.rollout) parts.push("### Canary", rolloutMarkdown(report.deploy.rollout));
  return `${parts.filter(Boolean).join("\n\n")}\n`;
}

/** The gates of the step that decided (the last one recorded), with their evidence. */
const decisive = (rollout: RolloutReport) => rollout.steps.at(-1)?.gates ?? [];

function warmupLine(rollout: RolloutReport): string {
  const w = rollout.warmup;
  return w
    ? `warm-up (not judged): ${w.requests} requests to the canary alone, first ${ms(w.firstMs)}, median ${ms(w.medianMs)}, max ${ms(w.maxMs)}, ${w.errors} errors`
    : "";
}

/** The canary's steps as a table with its latency chart, the deciding step's evidence and the paired eval figures. */
export function rolloutMarkdown(rollout: RolloutReport): string {
  return [
    markdownTable(rolloutHeaders, rolloutRows(rollout)),
    rolloutLatencyChart(rollout),
    `**${rollout.outcome}**: ${rollout.reason}`,
    pairedLine(decisive(rollout)),
    warmupLine(rollout),
    decisive(rollout).length ? markdownTable(evidenceHeaders, evidenceRows(decisive(rollout))) : "",
    volumesMarkdown(rollout),
    diagnosticsBlock(rollout),
  ]
    .filter(Boolean)
    .join("\n\n");
}

/** What each step could detect at the planned traffic (power-sized steps). */
function volumesMarkdown(rollout: RolloutReport): string {
  const v = rollout.volumes;
  if (!v?.volumes.length) return "";
  const kinds = [...new Set(v.volumes.flatMap((s) => Object.keys(s.needed)))];
  const table = markdownTable(
    ["step", "weight", "canary requests expected", ...kinds.map((k) => `needed for ${k}`)],
    v.volumes.map((s) => [s.step, `${s.weight}%`, s.expected, ...kinds.map((k) => s.needed[k] ?? "–")]),
  );
  return [table, ...v.warnings.map((w) => `⚠️ ${w}`)].join("\n\n");
}

export function rolloutText(rollout: RolloutReport): string {
  return [
    textTable(rolloutHeaders, rolloutRows(rollout)),
    pairedLine(decisive(rollout)),
    warmupLine(rollout),
    decisive(rollout).length ? textTable(evidenceHeaders, evidenceRows(decisive(rollout))) : "",
    rollout.diagnostics?.length
      ? `What the target reported:\n${rollout.diagnostics.map((l) => `  ${l}`).join("\n")}`
      : "",
  ]
    .filter(Boolean)
    .join("\n\n");
}

export function benchmarkText(report: BenchmarkReport): string {
  return textTable(benchmarkHeaders, benchmarkRows(report));
}

/** What the target reported when its workloads failed, in a code block (fences inside defused). */
function diagnosticsBlock(rollout: RolloutReport): string {
  if (!rollout.diagnostics?.length) return "";
  const text = rollout.diagnostics.join("\n").replaceAll("```", "'''");
  return `What the target reported:\n\n\`\`\`\n${text}\n\`\`\``;
}
