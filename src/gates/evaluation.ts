import type { EvalAnswers } from "./accuracy.js";
import { type GateResult, MIN_EVAL_SAMPLES, pText, round, worst } from "./gates.js";
import {
  binomialSf,
  clopperPearson,
  jensenShannon,
  minimumPairedRows,
  normalQuantile,
  pairedBootstrap,
  tangoNonInferiority,
} from "./statistics.js";

/** The eval-set gates, as configured. */
export interface EvalGatePlan {
  task: "classification" | "regression";
  /** Classification: the canary's own accuracy must be at least this. */
  min?: number;
  /**
   * Against the stable on the same rows: how much worse the canary may be, in accuracy points
   * (classification) or in the metric's unit (regression).
   */
  margin: number;
  /** One-sided level of the non-inferiority test: the chance of passing a canary exactly `margin` worse. */
  alpha: number;
  metric: "mae" | "rmse";
  /** Agreement with the stable's answers must be at least this (omitted: the figure alone). */
  agreementMin?: number;
  /** Regression answers within this distance count as agreeing. */
  tolerance: number;
}

export const EVAL_DEFAULTS = { margin: 0.05, alpha: 0.05, metric: "mae", tolerance: 0 } as const;

const percent = (v: number) => `${round(v * 100, 1)}%`;

/**
 * Every verdict the labelled eval set gives, as one "accuracy" gate whose parts are: the canary's
 * own accuracy against the minimum (also the only one for a first deployment); the paired
 * comparison with the stable (Tango's score test of non-inferiority for classes, a paired
 * bootstrap of MAE/RMSE for numbers); and the agreement of the two models' answers with the drift
 * of the predicted classes. `stable` is absent when nothing is stable yet.
 */
export function evalGates(
  labels: readonly (number | string)[],
  canary: EvalAnswers,
  stable: EvalAnswers | undefined,
  plan: EvalGatePlan,
  agreementAlpha: number,
): GateResult {
  const parts: GateResult[] = [];
  const n = labels.length;
  const warnings: string[] = [];
  const failed = canary.failures.filter(Boolean);
  if (failed.length > 0)
    warnings.push(
      `${failed.length}/${n} rows got no answer from the canary (${mostCommon(failed)}); counted wrong`,
    );
  const stableFailed = stable?.failures.filter(Boolean) ?? [];
  if (stableFailed.length > 0)
    warnings.push(
      `${stableFailed.length}/${n} rows got no answer from the stable (${mostCommon(stableFailed)})`,
    );

  if (n < MIN_EVAL_SAMPLES) {
    return combined(
      [{ ...inconclusive("accuracy-min", n, `only ${n} eval rows (need ${MIN_EVAL_SAMPLES})`) }],
      warnings,
      plan,
    );
  }
  if (failed.length === n) {
    return combined(
      [
        {
          ...inconclusive("accuracy-min", n, `every row failed on the canary (${mostCommon(failed)})`),
          status: "fail",
        },
      ],
      warnings,
      plan,
    );
  }
  if (plan.task === "classification") {
    const correct = (answers: EvalAnswers) =>
      answers.values.map((v, i) => v !== null && String(v) === String(labels[i]));
    const c = correct(canary);
    const predicted = new Set(canary.values.filter((v) => v !== null).map(String));
    const wanted = new Set(labels.map(String));
    if (
      ![...wanted].some((label) => predicted.has(label)) &&
      !stable?.values.some((v, i) => v !== null && String(v) === String(labels[i]))
    ) {
      parts.push(
        inconclusive(
          "accuracy-min",
          n,
          `the eval set's labels (${[...wanted].slice(0, 5).join(", ")}) are never what the models answer (${[...predicted].slice(0, 5).join(", ") || "nothing"}): check gates.accuracy.output and the labels`,
        ),
      );
      return combined(parts, warnings, plan);
    }
    const k = c.filter(Boolean).length;
    const accuracy = k / n;
    const interval = clopperPearson(k, n);
    if (plan.min !== undefined) {
      const pass = accuracy >= plan.min;
      parts.push({
        gate: "accuracy-min",
        status: pass ? "pass" : "fail",
        observed: round(accuracy, 4),
        threshold: plan.min,
        samples: n,
        test: "point estimate against the minimum; Clopper–Pearson 95% interval",
        estimate: round(accuracy, 4),
        interval: [round(interval[0], 4), round(interval[1], 4)],
        sizes: { canary: n },
        message: `canary accuracy ${round(accuracy, 4)} (${k}/${n}, 95% CI ${round(interval[0], 3)}…${round(interval[1], 3)}) ${pass ? "≥" : "<"} ${plan.min}`,
      });
    }
    if (stable) {
      const s = correct(stable);
      let onlyCanary = 0;
      let onlyStable = 0;
      c.forEach((right, i) => {
        if (right && !s[i]) onlyCanary++;
        if (!right && s[i]) onlyStable++;
      });
      parts.push(pairedAccuracy(onlyCanary, onlyStable, n, s.filter(Boolean).length / n, accuracy, plan));
    }
  } else if (stable) {
    parts.push(pairedRegression(labels, canary, stable, plan));
  }
  if (stable) parts.push(agreement(canary, stable, plan, agreementAlpha));
  return combined(parts, warnings, plan);
}

function pairedAccuracy(
  onlyCanary: number,
  onlyStable: number,
  n: number,
  stableAccuracy: number,
  canaryAccuracy: number,
  plan: EvalGatePlan,
): GateResult {
  const r = tangoNonInferiority(onlyCanary, onlyStable, n, plan.margin);
  const pass = r.pNonInferior < plan.alpha;
  const needed = minimumPairedRows(plan.margin, plan.alpha);
  const z = normalQuantile(1 - plan.alpha);
  // With no discordant pair T = √(nδ/(1−δ)): the smallest margin this set can ever confirm.
  const smallest = (z * z) / (n + z * z);
  const warnings =
    n < needed
      ? [
          `the eval set is too small for a margin of ${plan.margin}: with ${n} rows even identical answers cannot show non-inferiority (need ≥ ${needed} rows, or a margin ≥ ${round(smallest, 3)})`,
        ]
      : [];
  return {
    gate: "accuracy-vs-stable",
    status: pass ? "pass" : "fail",
    observed: round(r.difference, 4),
    threshold: -plan.margin,
    samples: n,
    test: "Tango (1998) score test of paired non-inferiority",
    pValue: r.pNonInferior,
    alpha: plan.alpha,
    estimate: round(r.difference, 4),
    interval: [round(r.interval[0], 4), round(r.interval[1], 4)],
    sizes: { canary: n, stable: n },
    figures: {
      stableAccuracy: round(stableAccuracy, 4),
      canaryAccuracy: round(canaryAccuracy, 4),
      onlyCanaryRight: onlyCanary,
      onlyStableRight: onlyStable,
      smallestMargin: round(smallest, 4),
    },
    ...(warnings.length ? { warnings } : {}),
    message:
      `paired: canary ${round(canaryAccuracy, 3)} vs stable ${round(stableAccuracy, 3)} on the same ${n} rows, ` +
      `Δ ${sign(r.difference)}${round(r.difference, 3)} (95% CI ${round(r.interval[0], 3)}…${round(r.interval[1], 3)}; ` +
      `${onlyCanary} rows only the canary got right, ${onlyStable} only the stable); ` +
      `${pass ? "within" : "not shown within"} the margin ${plan.margin} (p=${pText(r.pNonInferior)}, α=${plan.alpha})`,
  };
}

function pairedRegression(
  labels: readonly (number | string)[],
  canary: EvalAnswers,
  stable: EvalAnswers,
  plan: EvalGatePlan,
): GateResult {
  const rows: number[] = [];
  labels.forEach((label, i) => {
    const [c, s, y] = [Number(canary.values[i]), Number(stable.values[i]), Number(label)];
    if (canary.values[i] !== null && stable.values[i] !== null && [c, s, y].every(Number.isFinite))
      rows.push(i);
  });
  if (rows.length < MIN_EVAL_SAMPLES) {
    return inconclusive(
      "accuracy-vs-stable",
      rows.length,
      `only ${rows.length} rows with a finite answer from both models and a numeric label`,
    );
  }
  const errors = (answers: EvalAnswers) => rows.map((i) => Number(answers.values[i]) - Number(labels[i]));
  // A one-sided bound at alpha is the upper end of a two-sided 1 − 2·alpha interval.
  const r = pairedBootstrap(errors(canary), errors(stable), plan.metric, { confidence: 1 - 2 * plan.alpha });
  const pass = r.interval[1] < plan.margin;
  const name = plan.metric.toUpperCase();
  return {
    gate: "accuracy-vs-stable",
    status: pass ? "pass" : "fail",
    observed: round(r.estimate, 4),
    threshold: plan.margin,
    samples: rows.length,
    test: `paired bootstrap (2000 resamples) of the ${name} difference`,
    alpha: plan.alpha,
    estimate: round(r.estimate, 4),
    interval: [round(r.interval[0], 4), round(r.interval[1], 4)],
    sizes: { canary: rows.length, stable: rows.length },
    message:
      `paired: canary ${name} − stable ${name} = ${sign(r.estimate)}${round(r.estimate, 4)} ` +
      `(${round((1 - 2 * plan.alpha) * 100, 0)}% interval ${round(r.interval[0], 4)}…${round(r.interval[1], 4)}) ` +
      `${pass ? "within" : "not shown within"} the margin ${plan.margin}`,
  };
}

/**
 * How often the two models give the same answer to the same input, and how far apart their
 * predicted-class distributions are (Jensen–Shannon, smoothed). With a minimum, fails when the
 * agreement is significantly below it (one-sided exact binomial test on the disagreements).
 */
function agreement(canary: EvalAnswers, stable: EvalAnswers, plan: EvalGatePlan, alpha: number): GateResult {
  const n = canary.values.length;
  let same = 0;
  const counts = (answers: EvalAnswers) => {
    const map = new Map<string, number>();
    for (const v of answers.values) if (v !== null) map.set(String(v), (map.get(String(v)) ?? 0) + 1);
    return map;
  };
  canary.values.forEach((c, i) => {
    const s = stable.values[i];
    if (c === null || s === null || s === undefined) return;
    const numeric = plan.task === "regression" && Number.isFinite(Number(c)) && Number.isFinite(Number(s));
    if (numeric ? Math.abs(Number(c) - Number(s)) <= plan.tolerance : String(c) === String(s)) same++;
  });
  const rate = same / n;
  const drift = plan.task === "classification" ? jensenShannon(counts(canary), counts(stable)) : Number.NaN;
  const figures: Record<string, number> = { agreement: round(rate, 4), agreeing: same };
  if (Number.isFinite(drift)) figures.jensenShannon = round(drift, 4);
  const driftText = Number.isFinite(drift) ? `, predicted-class drift JS ${round(drift, 4)}` : "";
  if (plan.agreementMin === undefined) {
    return {
      gate: "agreement",
      status: "pass",
      observed: round(rate, 4),
      threshold: Number.NaN,
      samples: n,
      figures,
      message: `canary and stable agree on ${same}/${n} rows (${percent(rate)})${driftText}; no minimum set`,
    };
  }
  const pValue = binomialSf(n - same, n, 1 - plan.agreementMin);
  const fail = pValue < alpha;
  return {
    gate: "agreement",
    status: fail ? "fail" : "pass",
    observed: round(rate, 4),
    threshold: plan.agreementMin,
    samples: n,
    test: "one-sided exact binomial: disagreement > 1 − min",
    pValue,
    alpha,
    estimate: round(rate, 4),
    sizes: { canary: n, stable: n },
    figures,
    message:
      `canary and stable agree on ${same}/${n} rows (${percent(rate)})${driftText}; ` +
      `${fail ? "significantly below" : "not shown below"} ${plan.agreementMin} (p=${pText(pValue)}, α=${pText(alpha)})`,
  };
}

function inconclusive(gate: GateResult["gate"], samples: number, message: string): GateResult {
  return { gate, status: "inconclusive", observed: Number.NaN, threshold: Number.NaN, samples, message };
}

function combined(parts: GateResult[], warnings: string[], plan: EvalGatePlan): GateResult {
  const own = parts.find((p) => p.gate === "accuracy-min");
  const paired = parts.find((p) => p.gate === "accuracy-vs-stable");
  const allWarnings = [...warnings, ...parts.flatMap((p) => p.warnings ?? [])];
  return {
    gate: "accuracy",
    status: worst(parts.map((p) => p.status)),
    observed: own?.observed ?? paired?.figures?.canaryAccuracy ?? Number.NaN,
    threshold: plan.min ?? Number.NaN,
    samples: Math.max(0, ...parts.map((p) => p.samples)),
    message: parts.length
      ? parts.map((p) => p.message).join("; ")
      : "nothing to judge: no minimum and no stable to compare with",
    ...(allWarnings.length ? { warnings: allWarnings } : {}),
    parts,
  };
}

function mostCommon(reasons: string[]): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "";
}

const sign = (value: number) => (value >= 0 ? "+" : "");
