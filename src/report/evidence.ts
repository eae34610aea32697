import type { GateResult } from "../gates/gates.js";
import type { Cell } from "../util/table.js";

/**
 * One row per verdict with the evidence behind it: the figure and its bound, the test, its
 * p-value against the level it was held to, the interval and the sample sizes. A combined gate
 * (the eval set's) shows each of its parts on its own row.
 */
export const evidenceHeaders = [
  "gate",
  "status",
  "figure",
  "bound",
  "test",
  "p / α",
  "95% interval",
  "n canary / stable",
];

// A report read back from JSON has null where a figure was NaN.
const missing = (v: number | null | undefined): v is null | undefined =>
  v === undefined || v === null || Number.isNaN(v);
const num = (v: number | null | undefined) => (missing(v) ? "–" : String(Number(v.toPrecision(4))));
const p = (v: number | null | undefined) => (missing(v) ? "–" : v < 1e-4 ? v.toExponential(1) : num(v));

export function evidenceRows(gates: readonly GateResult[]): Cell[][] {
  return gates
    .flatMap((g) => (g.parts?.length ? g.parts : [g]))
    .map((g) => [
      g.name ? `${g.gate}: ${g.name}` : g.gate,
      g.status,
      num(g.observed),
      num(g.threshold),
      g.test ?? "–",
      g.pValue === undefined && g.alpha === undefined ? "–" : `${p(g.pValue)} / ${p(g.alpha)}`,
      g.interval ? `${num(g.interval[0])} … ${num(g.interval[1])}` : "–",
      g.sizes
        ? `${g.sizes.canary}${g.sizes.stable !== undefined ? ` / ${g.sizes.stable}` : ""}`
        : String(g.samples),
    ]);
}

/** The eval set's paired figures in one line: accuracy of both, the difference, agreement, drift. */
export function pairedLine(gates: readonly GateResult[]): string {
  const parts = gates.find((g) => g.gate === "accuracy")?.parts ?? [];
  const paired = parts.find((g) => g.gate === "accuracy-vs-stable");
  const agreement = parts.find((g) => g.gate === "agreement");
  const bits: string[] = [];
  if (paired?.figures) {
    const f = paired.figures;
    bits.push(
      `paired accuracy on the same ${paired.samples} rows: canary ${f.canaryAccuracy} vs stable ${f.stableAccuracy}, ` +
        `Δ ${num(paired.estimate)} (95% CI ${num(paired.interval?.[0])} … ${num(paired.interval?.[1])}), ${paired.status}`,
    );
  } else if (paired) bits.push(`paired: ${paired.message}`);
  if (agreement?.figures) {
    const js = agreement.figures.jensenShannon;
    bits.push(
      `agreement ${num((agreement.figures.agreement ?? Number.NaN) * 100)}% (${agreement.figures.agreeing}/${agreement.samples} rows)` +
        (js !== undefined ? `, predicted-class drift (Jensen–Shannon) ${num(js)}` : ""),
    );
  }
  const warnings = gates.flatMap((g) => g.warnings ?? []);
  return [...bits, ...warnings.map((w) => `⚠️ ${w}`)].join("\n\n");
}
