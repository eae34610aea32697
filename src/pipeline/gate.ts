import { hasFigures } from "../bench/report.js";
import { loadBodies, runBenchmark, synthesizeOipBody } from "../bench/run.js";
import { type ModelshipConfig, servedModelName } from "../config/index.js";
import { collectAnswers, toEvalRows } from "../gates/accuracy.js";
import { evalGates } from "../gates/evaluation.js";
import type { GateResult } from "../gates/gates.js";
import { emptyTrack, noErrors } from "../gates/metrics.js";
import { trafficGates, trafficTestCounts } from "../gates/traffic.js";

export interface GateReport {
  url: string;
  passed: boolean;
  gates: GateResult[];
}

/**
 * The gate stage on its own, against one running model server: accuracy on the eval set, then
 * latency and error rate under the configured benchmark load.
 */
export async function checkGates(
  config: ModelshipConfig,
  url: string,
  durationS?: number,
): Promise<GateReport> {
  const gates: GateResult[] = [];
  const { accuracy } = config.gates;
  if (accuracy) {
    const rows = toEvalRows(await loadBodies(accuracy.evalSet), accuracy.evalSet);
    const answers = await collectAnswers(url, servedModelName(config), rows, accuracy.output);
    // One server: its own accuracy only; nothing to pair it with.
    gates.push(
      evalGates(
        rows.map((r) => r.label),
        answers,
        undefined,
        { ...accuracy, tolerance: 0 },
        config.gates.alpha,
      ),
    );
  }
  if (config.gates.latency || config.gates.errorRate) {
    const bodies = config.benchmark.input
      ? await loadBodies(config.benchmark.input)
      : [await synthesizeOipBody(url, servedModelName(config))];
    const bench = await runBenchmark({
      url,
      protocol: "oip",
      modelName: servedModelName(config),
      bodies,
      mode: config.benchmark.mode,
      durationS: durationS ?? config.benchmark.durationS,
      warmupS: config.benchmark.warmupS,
    });
    // One server: the benchmark's figures stand for the canary; with no stable beside it, no comparison.
    // The summary counts the successful requests it was made of: none, and the gates see count 0
    // (too few to judge) rather than a latency of 0.
    const successes = bench.requests - bench.errors;
    const l = bench.latencyMs;
    const window = {
      requests: bench.requests,
      errors: bench.errors,
      errorsByClass: { ...noErrors(), server: bench.errors },
      latencyMs: hasFigures(l)
        ? { p50: l.p50, p90: l.p90, p95: l.p95, p99: l.p99, max: l.max, count: successes }
        : { ...emptyTrack().latencyMs },
    };
    // Without a stable beside it, only the absolute gates apply; they share the budget.
    const alpha = config.gates.alpha / Math.max(1, trafficTestCounts(config.gates).final);
    gates.push(
      ...trafficGates(config.gates, { canary: window, stable: emptyTrack() }, { kind: "final", alpha }),
    );
  }
  if (gates.length === 0)
    throw new Error("the config has no gates to check: add gates.latency, gates.errorRate or gates.accuracy");
  return { url, passed: gates.every((g) => g.status === "pass"), gates };
}
