import { describe, expect, it } from "vitest";
import { errorRateGate, errorsVsStableGate } from "../../src/gates/errors.js";
import { MIN_TRAFFIC_SAMPLES } from "../../src/gates/gates.js";
import { allowFor, latencyP95Gate, latencyShiftGate, latencyTailGate } from "../../src/gates/latency.js";
import { noErrors, type TrackMetrics } from "../../src/gates/metrics.js";
import { trafficGates } from "../../src/gates/traffic.js";
import { lognormal } from "../support/latencies.js";

const track = (
  samplesMs: number[] | undefined,
  errors: Partial<{ server: number; client: number; network: number }> = {},
  requests = (samplesMs?.length ?? 0) + Object.values(errors).reduce((s, v) => s + (v ?? 0), 0),
): TrackMetrics => {
  const byClass = { ...noErrors(), ...errors };
  const sorted = [...(samplesMs ?? [])].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return {
    requests,
    errors: byClass.server + byClass.client + byClass.network,
    errorsByClass: byClass,
    latencyMs: { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), max: q(1), count: requests },
    ...(samplesMs ? { samplesMs } : {}),
  };
};
const ALPHA = 0.001;

describe("latency-p95 (absolute, exact binomial on the share above the bound)", () => {
  it("passes when few requests exceed the bound, fails when significantly more than 5% do", () => {
    const fast = lognormal(400, 10, 0.3, 1);
    expect(latencyP95Gate(track(fast), 100, ALPHA).status).toBe("pass");
    const slow = lognormal(400, 100, 0.3, 2);
    const result = latencyP95Gate(track(slow), 100, ALPHA);
    expect(result).toMatchObject({
      status: "fail",
      gate: "latency-p95",
      test: expect.stringContaining("binomial"),
    });
    expect(result.pValue).toBeLessThan(1e-10);
  });

  it("does not fail a p95 that is over the bound by chance: 7 of 100 above", () => {
    const samples = [...Array(93).fill(50), ...Array(7).fill(150)];
    const result = latencyP95Gate(track(samples), 100, ALPHA);
    expect(result.status).toBe("pass");
    expect(result.observed).toBe(150);
    // P(Binomial(100, 0.05) ≥ 7) from SciPy: binom.sf(6, 100, 0.05) = 0.23399...
    expect(result.pValue).toBeCloseTo(0.2339836, 5);
  });

  it("is inconclusive with too few requests however slow; a bare summary is judged on its figure", () => {
    const few = latencyP95Gate(track(Array(MIN_TRAFFIC_SAMPLES - 1).fill(9999)), 100, ALPHA);
    expect(few).toMatchObject({
      status: "inconclusive",
      message: `only 19 successful canary requests (need 20)`,
    });
    expect(few.observed).toBeNaN();
    const summaryOnly = { ...track(Array(50).fill(300)), samplesMs: undefined };
    // A source with neither samples nor buckets is judged on its point figure.
    expect(latencyP95Gate(summaryOnly, 100, ALPHA).status).toBe("fail");
    expect(latencyP95Gate({ ...track(Array(50).fill(30)), samplesMs: undefined }, 100, ALPHA).status).toBe(
      "pass",
    );
  });

  it("on buckets counts above the first edge at or over the bound", () => {
    const canary: TrackMetrics = {
      ...track(undefined, {}, 200),
      latencyBuckets: { le: [10, 50, 100, 250, Infinity], cumulative: [20, 60, 100, 190, 200] },
    };
    const result = latencyP95Gate(canary, 90, ALPHA);
    expect(result.status).toBe("fail"); // 100 of 200 above the 100 ms edge
    expect(result.figures?.bucketEdgeMs).toBe(100);
  });
});

describe("latency-vs-stable (U test on latencies less the allowance, Hodges–Lehmann shift)", () => {
  const allowance = { pct: 10, ms: 0.5 };

  it("passes an A/A window and a shift within the allowance", () => {
    const aa = latencyShiftGate(
      track(lognormal(500, 10, 0.5, 3)),
      track(lognormal(2000, 10, 0.5, 4)),
      allowance,
      ALPHA,
    );
    expect(aa?.status).toBe("pass");
    expect(aa?.interval?.[0]).toBeLessThan(0);
    expect(aa?.interval?.[1]).toBeGreaterThan(0);
    const slightly = latencyShiftGate(
      track(lognormal(5000, 10.5, 0.5, 5)),
      track(lognormal(5000, 10, 0.5, 6)),
      allowance,
      ALPHA,
    );
    expect(slightly?.status).toBe("pass");
  });

  it("fails a canary three times slower with few requests, and reports the shift with its interval", () => {
    const result = latencyShiftGate(
      track(lognormal(30, 30, 0.3, 7)),
      track(lognormal(120, 10, 0.3, 8)),
      allowance,
      ALPHA,
    );
    expect(result?.status).toBe("fail");
    expect(result?.estimate).toBeGreaterThan(15);
    expect(result?.interval?.[0]).toBeGreaterThan(10);
    expect(result?.pValue).toBeLessThan(1e-8);
  });

  it("takes the larger of the percentage and the milliseconds off each canary latency", () => {
    const reduce = allowFor({ pct: 10, ms: 0.5 });
    expect(reduce(11)).toBeCloseTo(10, 10); // 10% of 10 is more than 0.5 ms
    expect(reduce(1.5)).toBeCloseTo(1, 10); // 0.5 ms is more than 10% of 1.36
  });

  it("on buckets runs the grouped U test and checks the allowance on interpolated medians", () => {
    const le = [1, 2, 5, 10, 25, Infinity];
    const stable: TrackMetrics = {
      ...track(undefined, {}, 400),
      latencyBuckets: { le, cumulative: [40, 200, 380, 396, 400, 400] },
    };
    const slower: TrackMetrics = {
      ...track(undefined, {}, 100),
      latencyBuckets: { le, cumulative: [0, 5, 30, 80, 100, 100] },
    };
    const result = latencyShiftGate(slower, stable, allowance, ALPHA);
    expect(result).toMatchObject({ status: "fail", test: expect.stringContaining("buckets") });
    const same: TrackMetrics = {
      ...track(undefined, {}, 100),
      latencyBuckets: { le, cumulative: [10, 50, 95, 99, 100, 100] },
    };
    expect(latencyShiftGate(same, stable, allowance, ALPHA)?.status).toBe("pass");
  });

  it("is inconclusive with too few samples on either side, and absent without samples or buckets", () => {
    expect(
      latencyShiftGate(track(lognormal(10, 50, 0.3, 9)), track(lognormal(400, 5, 0.3, 10)), allowance, ALPHA)
        ?.status,
    ).toBe("inconclusive");
    expect(
      latencyShiftGate({ ...track([1]), samplesMs: undefined }, track([1]), allowance, ALPHA),
    ).toBeUndefined();
  });
});

describe("latency-tail (Fisher exact above a pooled high quantile)", () => {
  const allowance = { pct: 10, ms: 0.5 };
  it("fails a tail-only regression the median test misses, passes the same distribution", () => {
    const stable = lognormal(8000, 10, 0.5, 11);
    // Same median, 5% of requests +50 ms.
    const canary = lognormal(2000, 10, 0.5, 12).map((ms, i) => (i % 20 === 0 ? ms + 50 : ms));
    const tail = latencyTailGate(track(canary), track(stable), allowance, ALPHA);
    expect(tail?.status).toBe("fail");
    expect(latencyShiftGate(track(canary), track(stable), allowance, ALPHA)?.status).toBe("pass");
    expect(
      latencyTailGate(track(lognormal(2000, 10, 0.5, 13)), track(stable), allowance, ALPHA)?.status,
    ).toBe("pass");
  });
});

describe("latency-tail on buckets (Fisher above the pooled edge, the allowance on interpolated quantiles)", () => {
  // The reference server's edges in ms (src/serve/metrics.ts), around a sub-millisecond model.
  const le = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, Infinity];
  const buckets = (counts: number[]): TrackMetrics => {
    const cumulative = counts.map((_, i) => counts.slice(0, i + 1).reduce((a, b) => a + b, 0));
    return { ...track(undefined, {}, cumulative.at(-1)), latencyBuckets: { le, cumulative } };
  };
  // Measured on the test cluster: a canary at 20% of the traffic, ~3 ms slower at its p95 than
  // the stable taking the other 80%.
  const stable = buckets([0, 0, 150, 170, 10, 1, 0, 0]);
  const canary = buckets([0, 0, 20, 92, 20, 13, 0, 0]);

  it("fails a tail heavier by more than the allowance, passes the same tail within a larger one", () => {
    const strict = latencyTailGate(canary, stable, { pct: 10, ms: 0.5 }, ALPHA);
    expect(strict).toMatchObject({ status: "fail", figures: { boundaryMs: 2.5 } });
    expect(strict?.pValue).toBeLessThan(ALPHA);
    const loose = latencyTailGate(canary, stable, { pct: 10, ms: 5 }, ALPHA);
    // The same counts, as significant, but the canary's p95.8 ≈3.8 ms is within 1 ms + 5 ms.
    expect(loose).toMatchObject({ status: "pass", pValue: strict?.pValue });
    expect(loose?.message).toMatch(
      /heavier, but within \+10%\/\+5 ms at the tail \(≈3\.\d+ vs ≈\d\.\d+ ms\)/,
    );
    expect(loose?.figures?.canaryTailMs).toBeGreaterThan(3);
  });

  it("a canary tail past the highest edge (+Inf) is beyond an allowance whose bound lies below that edge", () => {
    // 400 requests each: the stable 2% over 10 ms (its p97.5 ≈7.5 ms), the canary 20%.
    const stable = buckets([0, 0, 100, 200, 80, 8, 4, 8]);
    const canary = buckets([0, 0, 80, 160, 60, 10, 10, 80]);
    const result = latencyTailGate(canary, stable, { pct: 10, ms: 0.5 }, ALPHA);
    expect(result?.pValue).toBeLessThan(ALPHA);
    expect(result?.status).toBe("fail");
    // +5 ms allowed would take the bound to 12.5 ms, past the last edge: it cannot be told.
    const unjudged = latencyTailGate(canary, stable, { pct: 10, ms: 5 }, ALPHA);
    expect(unjudged?.status).toBe("pass");
  });

  it("both tails past the highest edge: the allowance is given, and the result says to add buckets", () => {
    // A slow model measured on buckets that stop at 10 ms, the canary a little slower.
    const stable = buckets([0, 0, 0, 0, 0, 100, 180, 520]);
    const canary = buckets([0, 0, 0, 0, 0, 60, 140, 600]);
    const result = latencyTailGate(canary, stable, { pct: 10, ms: 0.5 }, ALPHA);
    expect(result?.pValue).toBeLessThan(ALPHA);
    expect(result).toMatchObject({ status: "pass" });
    expect(result?.message).toContain("both tails are past the highest bucket edge (10 ms)");
    expect(result?.warnings?.[0]).toMatch(/add buckets above it to judge the tail/);
  });

  it("passes the same distribution, and a percentage allowance alone does not excuse a 4× tail", () => {
    expect(
      latencyTailGate(buckets([0, 0, 50, 57, 3, 1, 0, 0]), stable, { pct: 10, ms: 0.5 }, ALPHA)?.status,
    ).toBe("pass");
    expect(latencyTailGate(canary, stable, { pct: 100, ms: 0 }, ALPHA)?.status).toBe("fail");
  });
});

describe("errors", () => {
  it("error-rate: one error in 40 requests with max 1% is not evidence (the old gate reverted it)", () => {
    const result = errorRateGate(track(Array(39).fill(5), { server: 1 }), 0.01, ALPHA);
    expect(result.status).toBe("pass");
    expect(result.warnings?.[0]).toMatch(/above 0.01 but not significantly/);
    // P(at least one error in 40 at 1%) = 1 − 0.99⁴⁰.
    expect(result.pValue).toBeCloseTo(1 - 0.99 ** 40, 12);
  });

  it("error-rate: fails a rate significantly above the max, any error at max 0, and ignores 4xx", () => {
    expect(errorRateGate(track(Array(180).fill(5), { server: 20 }), 0.01, ALPHA).status).toBe("fail");
    expect(errorRateGate(track(Array(999).fill(5), { network: 1 }), 0, ALPHA).status).toBe("fail");
    expect(errorRateGate(track(Array(160).fill(5), { client: 40 }), 0.01, ALPHA).status).toBe("pass");
    expect(errorRateGate(track([], { server: 5 }), 0.01, ALPHA).status).toBe("inconclusive");
  });

  it("errors-vs-stable: zero against zero passes with p = 1; 2 of 40 against none of 160 is not yet evidence", () => {
    const zero = errorsVsStableGate("server", track(Array(40).fill(5)), track(Array(160).fill(5)), ALPHA);
    expect(zero).toMatchObject({ status: "pass", pValue: 1 });
    const two = errorsVsStableGate(
      "server",
      track(Array(38).fill(5), { server: 2 }),
      track(Array(160).fill(5)),
      ALPHA,
    );
    expect(two?.status).toBe("pass");
    // The hypergeometric upper tail in closed form: both errors on the canary's side, C(40,2)/C(200,2).
    expect(two?.pValue).toBeCloseTo(780 / 19900, 12);
  });

  it("client-errors-vs-stable: 40 malformed requests hitting both tracks alike pass; a canary that 400s what the stable accepts fails", () => {
    const alike = errorsVsStableGate(
      "client",
      track(Array(100).fill(5), { client: 8 }),
      track(Array(400).fill(5), { client: 32 }),
      ALPHA,
    );
    expect(alike?.status).toBe("pass");
    const broken = errorsVsStableGate(
      "client",
      track(Array(60).fill(5), { client: 40 }),
      track(Array(400).fill(5), { client: 2 }),
      ALPHA,
    );
    expect(broken?.status).toBe("fail");
    expect(errorsVsStableGate("client", track(Array(60).fill(5)), track([]), ALPHA)).toBeUndefined();
  });
});

describe("trafficGates", () => {
  const plan = { latency: { p95Ms: 250 }, errorRate: { max: 0.01 } };

  it("runs every gate at a step's end, the comparisons only where the stable served traffic", () => {
    const canary = track(lognormal(100, 5, 0.3, 20));
    const names = trafficGates(plan, { canary, stable: track(lognormal(400, 5, 0.3, 21)) }).map(
      (g) => g.gate,
    );
    expect(names).toEqual([
      "latency-p95",
      "latency-vs-stable",
      "latency-tail",
      "error-rate",
      "errors-vs-stable",
      "client-errors-vs-stable",
    ]);
    const alone = trafficGates(plan, { canary, stable: track([]) }).map((g) => g.gate);
    expect(alone).toEqual(["latency-p95", "error-rate"]);
  });

  it("a look during a step never aborts for less than the step's end allows (critical at least the allowance)", () => {
    const look = { kind: "interim" as const, alpha: 1e-5 };
    // 2 ms slower on a 0.5 ms model: beyond the default critical +100%/+1 ms, within +5 ms.
    const stable = track(Array.from({ length: 200 }, (_, i) => 0.4 + (i % 10) * 0.02));
    const canary = track(Array.from({ length: 60 }, (_, i) => 2.4 + (i % 10) * 0.02));
    const shift = (latency: object) =>
      trafficGates({ latency: { p95Ms: 250, ...latency } }, { canary, stable }, look).find(
        (g) => g.gate === "latency-vs-stable",
      )?.status;
    expect(shift({})).toBe("fail");
    expect(shift({ minIncreaseMs: 5 })).toBe("pass");
    expect(shift({ minIncreaseMs: 5, criticalIncreaseMs: 0.1 })).toBe("pass");
    expect(shift({ minIncreaseMs: 1.5 })).toBe("fail");
  });

  it("during a step aborts only on a clear failure: half the requests failing, or a canary several times slower", () => {
    const look = { kind: "interim" as const, alpha: 1e-5 };
    const stable = track(lognormal(64, 1, 0.2, 22));
    const halfFailing = trafficGates(
      plan,
      { canary: track(lognormal(8, 1, 0.2, 23), { server: 8 }), stable },
      look,
    );
    expect(halfFailing.find((g) => g.gate === "errors-vs-stable")).toMatchObject({
      status: "fail",
      look: "interim",
    });
    const slow = trafficGates(plan, { canary: track(lognormal(16, 4, 0.2, 24)), stable }, look);
    expect(slow.find((g) => g.gate === "latency-vs-stable")?.status).toBe("fail");
    // 2 errors in 16 against none: a step's end may judge it, a look during the step does not abort.
    const some = trafficGates(
      plan,
      { canary: track(lognormal(14, 1, 0.2, 25), { server: 2 }), stable },
      look,
    );
    expect(some.every((g) => g.status === "pass")).toBe(true);
  });
});
