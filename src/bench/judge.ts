import { type BaselineReport, compareWithBaseline } from "./baseline.js";
import type { BenchmarkReport } from "./report.js";
import { checkThresholds, type Threshold } from "./thresholds.js";

export interface Criteria {
  thresholds?: readonly Threshold[];
  baseline?: { report: BaselineReport; file: string; maxRegression: number };
}

/** The report with its verdict: thresholds checked, baseline compared, `passed` when all hold. */
export function judge(report: BenchmarkReport, criteria: Criteria): BenchmarkReport {
  const thresholds = criteria.thresholds?.length ? checkThresholds(report, criteria.thresholds) : undefined;
  const baseline = criteria.baseline
    ? compareWithBaseline(
        report,
        criteria.baseline.report,
        criteria.baseline.maxRegression,
        criteria.baseline.file,
      )
    : undefined;
  const passed = (thresholds ?? []).every((t) => t.pass) && !baseline?.regressed;
  return {
    ...report,
    ...(thresholds ? { thresholds } : {}),
    ...(baseline ? { baseline } : {}),
    passed,
  };
}

/** Why a judged report failed, one reason a line; empty when it passed. */
export function failureReasons(report: BenchmarkReport): string[] {
  const failed = (report.thresholds ?? [])
    .filter((t) => !t.pass)
    .map(
      (t) =>
        `threshold ${t.threshold} failed (observed ${Number.isNaN(t.observed) ? "no data" : t.observed})`,
    );
  const regressed = (report.baseline?.changes ?? [])
    .filter((c) => c.regressed)
    .map((c) => `${c.metric} regressed against ${report.baseline?.file}: ${c.baseline} → ${c.current}`);
  return [...failed, ...regressed];
}
