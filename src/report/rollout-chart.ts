import type { TrafficWindow } from "../gates/metrics.js";
import type { RolloutReport } from "../rollout/canary.js";

/**
 * A track's latency, or undefined when none of its requests succeeded: its summary then holds
 * zeros that must not be shown (or charted) as a latency.
 */
export const trackLatency = (track: TrafficWindow): TrafficWindow["latencyMs"] | undefined =>
  track.requests - track.errors > 0 && track.latencyMs.count > 0 ? track.latencyMs : undefined;

/**
 * A Mermaid chart of canary against stable p95 latency for each traffic step, which GitHub renders
 * in job summaries and comments. Empty when no step carried traffic (e.g. reverted before traffic).
 * A step where either track had no successful request has no latency to compare: it is left off
 * (a chart cannot show a missing figure, and 0 would read as the fastest step).
 */
export function rolloutLatencyChart(rollout: RolloutReport): string {
  const steps = rollout.steps
    .filter((s) => s.durationS > 0)
    .map((s, i) => ({ ...s, number: i + 1 }))
    .filter((s) => trackLatency(s.stable) !== undefined && trackLatency(s.canary) !== undefined);
  if (steps.length === 0) return "";
  const labels = steps.map((s) => `"step ${s.number} (${s.weight}%)"`).join(", ");
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
