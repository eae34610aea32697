import type { RolloutReport } from "../rollout/canary.js";

/**
 * A Mermaid chart of canary against stable p95 latency for each traffic step, which GitHub renders
 * in job summaries and comments. Empty when no step carried traffic (e.g. reverted before traffic).
 */
export function rolloutLatencyChart(rollout: RolloutReport): string {
  const steps = rollout.steps.filter((s) => s.durationS > 0);
  if (steps.length === 0) return "";
  const labels = steps.map((s, i) => `"step ${i + 1} (${s.weight}%)"`).join(", ");
  const series = (pick: (s: (typeof steps)[number]) => number) =>
    steps.map((s) => pick(s).toFixed(2)).join(", ");
  return [
    "```mermaid",
    "xychart-beta",
    '  title "p95 latency by step: bars stable, line canary (ms)"',
    `  x-axis [${labels}]`,
    '  y-axis "ms"',
    `  bar [${series((s) => s.stable.latencyMs.p95)}]`,
    `  line [${series((s) => s.canary.latencyMs.p95)}]`,
    "```",
  ].join("\n");
}
