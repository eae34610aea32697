import { type BaselineReport, compareWithBaseline } from "./baseline.js";
import { type BenchmarkReport, hasFigures } from "./report.js";
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
  // No successful request is a failure unless thresholds were given to judge the run by.
  const passed =
    (thresholds ?? []).every((t) => t.pass) &&
    !baseline?.regressed &&
    (hasFigures(report.latencyMs) || thresholds !== undefined);
  return {
    ...report,
    ...(thresholds ? { thresholds } : {}),
    ...(baseline ? { baseline } : {}),
    passed,
  };
}

/** "no request succeeded (40 requests: status:500 38, timeout 2)", or undefined when one did. */
export function noSuccessReason(report: BenchmarkReport): string | undefined {
  if (hasFigures(report.latencyMs)) return undefined;
  if (report.requests === 0) return "no request completed in the measured time: no latency to report";
  const causes = Object.entries(report.errorBreakdown)
    .sort((a, b) => b[1] - a[1])
    .map(([cause, n]) => `${cause} ${n}`)
    .join(", ");
  return `no request succeeded (${report.requests} requests: ${causes}): no latency to report`;
}

/** Why a judged report failed, one reason a line; empty when it passed. */
export function failureReasons(report: BenchmarkReport): string[] {
  const none = report.thresholds?.length ? undefined : noSuccessReason(report);
  const failed = (report.thresholds ?? [])
    .filter((t) => !t.pass)
    .map(
      (t) =>
        `threshold ${t.threshold} failed (observed ${Number.isNaN(t.observed) ? "no data" : t.observed})`,
    );
  const regressed = (report.baseline?.changes ?? [])
    .filter((c) => c.regressed)
    .map(
      (c) => `${c.metric} regressed against ${report.baseline?.file}: ${c.baseline} → ${c.current ?? "–"}`,
    );
  return [...(none ? [none] : []), ...failed, ...regressed];
}
