import { describe, expect, it } from "vitest";
import { latencyShiftGate } from "../../src/gates/latency.js";
import { noErrors } from "../../src/gates/metrics.js";
import { mannWhitneyGreater, median, normalCdf } from "../../src/gates/statistics.js";
import { trafficGates } from "../../src/gates/traffic.js";

describe("Mann–Whitney U (one-sided, canary greater)", () => {
  // Reference values from SciPy 1.x: mannwhitneyu(candidate, baseline, alternative="greater",
  // method="asymptotic", use_continuity=True), an independent implementation.
  it("matches SciPy without ties", () => {
    const result = mannWhitneyGreater([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(result.u).toBe(78);
    expect(result.pValue).toBeCloseTo(0.05608285206752406, 6);
  });

  it("matches SciPy with ties (midranks and the tie correction)", () => {
    const result = mannWhitneyGreater([2, 3, 3, 4, 4, 5, 5, 6], [1, 1, 2, 2, 3, 3, 3, 4]);
    expect(result.u).toBe(53);
    expect(result.pValue).toBeCloseTo(0.013830774055256359, 6);
  });

  it("finds no evidence when the canary is faster, and none when all values are equal", () => {
    expect(mannWhitneyGreater([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).pValue).toBeGreaterThan(0.99);
    expect(mannWhitneyGreater([5, 5, 5], [5, 5, 5, 5]).pValue).toBe(0.5);
  });

  it("refuses an empty side", () => {
    expect(() => mannWhitneyGreater([], [1])).toThrow(/both sides/);
    expect(() => mannWhitneyGreater([1], [])).toThrow(/both sides/);
  });
});

describe("normalCdf and median", () => {
  it("gives Φ at known points", () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-1.644854)).toBeCloseTo(0.05, 6);
    expect(normalCdf(8)).toBeCloseTo(1, 7);
  });

  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

const samplesTrack = (samplesMs: number[]) => ({
  requests: samplesMs.length,
  errors: 0,
  errorsByClass: noErrors(),
  latencyMs: { p50: 0, p90: 0, p95: 0, p99: 0, max: 0, count: samplesMs.length },
  samplesMs,
});
/** The comparison at the allowance of 20% and 1 ms and one-sided α = 0.01. */
const latencyComparisonGate = (
  canary: number[],
  stable: number[],
  limits = { maxIncreasePct: 20, minIncreaseMs: 1, alpha: 0.01 },
) =>
  latencyShiftGate(
    samplesTrack(canary),
    samplesTrack(stable),
    { pct: limits.maxIncreasePct, ms: limits.minIncreaseMs },
    limits.alpha,
  ) as NonNullable<ReturnType<typeof latencyShiftGate>>;

describe("latency-vs-stable (canary against stable on the same traffic)", () => {
  // Deterministic log-normal-ish latencies: a seeded generator, so every run sees the same samples.
  const latencies = (count: number, medianMs: number, seed: number): number[] => {
    let state = seed;
    const uniform = () => {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      return (state + 1) / (2 ** 31 + 1);
    };
    return Array.from({ length: count }, () => {
      const normal = Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
      return medianMs * Math.exp(0.3 * normal);
    });
  };

  it("passes an A/A comparison: the same distribution on both sides", () => {
    const result = latencyComparisonGate(latencies(400, 5, 1), latencies(400, 5, 2));
    expect(result.status).toBe("pass");
    expect(Math.abs(result.observed)).toBeLessThan(10);
  });

  it("fails a canary twice as slow, with the shift and the p-value as evidence", () => {
    const result = latencyComparisonGate(latencies(200, 10, 3), latencies(200, 5, 4));
    expect(result.status).toBe("fail");
    expect(result.observed).toBeGreaterThan(80);
    expect(result.pValue).toBeLessThan(1e-4);
  });

  it("passes a shift that is significant but smaller than the allowed increase", () => {
    // No millisecond floor here, so only the percentage bound can let it pass.
    const result = latencyComparisonGate(latencies(5000, 5.25, 5), latencies(5000, 5, 6), {
      maxIncreasePct: 20,
      minIncreaseMs: 0,
      alpha: 0.01,
    });
    expect(result.status).toBe("pass");
    expect(result.observed).toBeGreaterThan(0);
  });

  it("passes a large relative shift that is too small in milliseconds to matter (a cold sub-ms model)", () => {
    const result = latencyComparisonGate(latencies(400, 0.6, 11), latencies(400, 0.3, 12));
    expect(result.observed).toBeGreaterThan(80);
    expect(result.status).toBe("pass");
    expect(result.message).toContain("+20%/+1 ms");
  });

  it("is inconclusive with too few samples on either side", () => {
    expect(latencyComparisonGate(latencies(10, 50, 7), latencies(400, 5, 8)).status).toBe("inconclusive");
    expect(latencyComparisonGate(latencies(400, 5, 9), latencies(5, 5, 10)).status).toBe("inconclusive");
  });
});

describe("trafficGates compares with the stable using the configured bounds", () => {
  const window = (samples: number[]) => ({
    requests: samples.length,
    errors: 0,
    errorsByClass: { server: 0, client: 0, network: 0 },
    latencyMs: { p50: 0, p90: 0, p95: Math.max(...samples), p99: 0, max: 0, count: samples.length },
    samplesMs: samples,
  });
  const slow = Array.from({ length: 50 }, (_, i) => 10 + (i % 5));
  const fast = Array.from({ length: 50 }, (_, i) => 5 + (i % 5));
  const traffic = { canary: window(slow), stable: window(fast) };
  const verdict = (latency: Parameters<typeof trafficGates>[0]["latency"]) =>
    trafficGates({ latency }, traffic).find((g) => g.gate === "latency-vs-stable")?.status;

  it("fails a canary twice as slow by default, and passes it under looser bounds", () => {
    expect(verdict({ p95Ms: 1000 })).toBe("fail");
    expect(verdict({ p95Ms: 1000, maxIncreasePct: 200 })).toBe("pass");
    expect(verdict({ p95Ms: 1000, minIncreaseMs: 10 })).toBe("pass");
  });

  it("does not compare when the stable served none of the step", () => {
    const alone = { ...traffic, stable: window([]) };
    expect(trafficGates({ latency: { p95Ms: 1000 } }, alone).map((g) => g.gate)).toEqual(["latency-p95"]);
  });
});
