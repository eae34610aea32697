import type { InstantResult, PrometheusQuerier } from "../prometheus/client.js";
import type { GateResult } from "./gates.js";

/** A user-defined gate: a PromQL query that must give one number within `max`/`min`. */
export interface PromqlGate {
  name: string;
  /** `$window` is replaced by the step's window as a PromQL range, e.g. `30s`. */
  query: string;
  max?: number;
  min?: number;
}

/** The one number a gate's query must give, or why it gave none. */
export function singleValue(result: InstantResult): { value: number } | { why: string } {
  if (result.kind === "scalar") return { value: result.value };
  if (result.kind === "vector") {
    if (result.samples.length === 0) return { why: "the query returned no data (an empty vector)" };
    if (result.samples.length > 1) {
      return {
        why: `the query returned ${result.samples.length} series; aggregate them to one (e.g. sum(…) or max(…))`,
      };
    }
    return { value: (result.samples[0] as { value: number }).value };
  }
  return {
    why: `the query returned a ${result.kind}; a gate needs one number (a scalar or a single-series vector)`,
  };
}

/**
 * Evaluates each PromQL gate at the window's end. A query that fails, returns nothing, several
 * series or NaN is inconclusive with the reason (so the step is extended, then reverted): never a
 * pass on missing data. These are thresholds the user chose, not tests, so they take no share of
 * the false-revert budget.
 */
export async function promqlGates(
  prometheus: PrometheusQuerier,
  gates: readonly PromqlGate[],
  window: { start: Date; end: Date },
): Promise<GateResult[]> {
  const range = `${Math.max(1, Math.round((window.end.getTime() - window.start.getTime()) / 1000))}s`;
  return Promise.all(
    gates.map(async (gate): Promise<GateResult> => {
      const query = gate.query.replaceAll("$window", range);
      const threshold = gate.max ?? gate.min ?? Number.NaN;
      const base = {
        gate: "promql" as const,
        name: gate.name,
        threshold,
        samples: 0,
        test: `PromQL: ${query}`,
      };
      let answer: { value: number } | { why: string };
      try {
        answer = singleValue(await prometheus.query(query, window.end));
      } catch (error) {
        answer = { why: (error as Error).message };
      }
      if ("why" in answer)
        return { ...base, status: "inconclusive", observed: Number.NaN, message: answer.why };
      const { value } = answer;
      if (Number.isNaN(value))
        return {
          ...base,
          status: "inconclusive",
          observed: Number.NaN,
          message: "the query gave NaN (no requests in the window?)",
        };
      const tooHigh = gate.max !== undefined && value > gate.max;
      const tooLow = gate.min !== undefined && value < gate.min;
      const bounds = [
        gate.min !== undefined ? `≥ ${gate.min}` : "",
        gate.max !== undefined ? `≤ ${gate.max}` : "",
      ]
        .filter(Boolean)
        .join(" and ");
      return {
        ...base,
        status: tooHigh || tooLow ? "fail" : "pass",
        observed: value,
        samples: 1,
        message: `${gate.name} = ${Number(value.toPrecision(6))}, ${tooHigh || tooLow ? "not " : ""}${bounds}`,
      };
    }),
  );
}
