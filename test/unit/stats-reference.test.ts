// The gates' statistics against SciPy/statsmodels figures computed once and committed in
// test/reference/stats.json (the command that made them is in its "command" field and in
// test/reference/make-stats.py). Python never runs here.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  binomialCdf,
  binomialSf,
  clopperPearson,
  fisherGreater,
  hodgesLehmann,
  jensenShannon,
  mannWhitneyGreater,
  mannWhitneyGroupedGreater,
  minimumPairedRows,
  normalQuantile,
  normalSf,
  pairedBootstrap,
  regularizedBeta,
  tangoNonInferiority,
  tangoStatistic,
} from "../../src/gates/statistics.js";

// biome-ignore lint/suspicious/noExplicitAny: the fixture is plain JSON
const ref: any = JSON.parse(readFileSync(join(import.meta.dirname, "..", "reference", "stats.json"), "utf8"));

/** Equal to a relative precision (p-values span many orders of magnitude). */
const close = (actual: number, expected: number, relative = 1e-6, absolute = 1e-14) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(relative * Math.abs(expected) + absolute);

describe("distributions (SciPy)", () => {
  it("normal quantile and upper tail", () => {
    for (const { p, z } of ref.normalQuantile) close(normalQuantile(p), z, 1e-8);
    for (const { z, p } of ref.normalSf) close(normalSf(z), p, 2e-7);
  });

  it("regularized incomplete beta (scipy.special.betainc)", () => {
    for (const { x, a, b, value } of ref.regularizedBeta) close(regularizedBeta(x, a, b), value, 1e-9);
  });

  it("binomial tails, including k = 0 and n = 20000 (scipy.stats.binom)", () => {
    for (const { k, n, p, sf, cdf } of ref.binomial) {
      close(binomialSf(k, n, p), sf, 1e-9);
      close(binomialCdf(k, n, p), cdf, 1e-9);
    }
  });

  it("Clopper–Pearson intervals at 0, k and n (binomtest(...).proportion_ci(method='exact'))", () => {
    for (const { k, n, alpha, low, high } of ref.clopperPearson) {
      const [l, h] = clopperPearson(k, n, alpha);
      close(l, low, 1e-9);
      close(h, high, 1e-9);
    }
  });
});

describe("Fisher's exact test, one-sided (scipy.stats.fisher_exact alternative='greater')", () => {
  it("matches at zero against zero, a single error, tiny and large counts", () => {
    for (const { events1, n1, events2, n2, p } of ref.fisherGreater) {
      close(fisherGreater(events1, n1, events2, n2), p, 1e-9);
    }
  });
});

describe("Mann–Whitney U and Hodges–Lehmann", () => {
  it("match SciPy's asymptotic U test and NumPy's brute-force median of differences", () => {
    for (const c of ref.mannWhitney) {
      const u = mannWhitneyGreater(c.x, c.y);
      close(u.u, c.u, 1e-12);
      close(u.pValue, c.p, 1e-6);
      const hl = hodgesLehmann(c.x, c.y);
      // Found by bisection on the value: to 1e-8 ms, far below any latency that matters.
      close(hl.shift, c.hl, 1e-7, 1e-8);
      close(hl.interval[0], c.ciLow, 1e-7, 1e-8);
      close(hl.interval[1], c.ciHigh, 1e-7, 1e-8);
    }
  });

  it("on bucket counts equals the U test on the bucket indices repeated", () => {
    for (const c of ref.mannWhitneyGrouped) {
      const u = mannWhitneyGroupedGreater(c.candidate, c.baseline);
      close(u.u, c.u, 1e-12);
      close(u.pValue, c.p, 1e-6);
    }
  });
});

describe("Tango's score test for paired proportions", () => {
  it("matches the statistic from a numerically maximised restricted likelihood (SciPy)", () => {
    for (const c of ref.tango) {
      close(tangoStatistic(c.onlyFirst, c.onlySecond, c.n, c.delta0), c.statistic, 1e-6);
      close(
        tangoNonInferiority(c.onlyFirst, c.onlySecond, c.n, -c.delta0).pNonInferior,
        c.pNonInferior,
        1e-5,
      );
    }
  });

  it("is McNemar's statistic at Δ₀ = 0 (statsmodels mcnemar, no correction)", () => {
    for (const c of ref.mcnemar) close(tangoStatistic(c.onlyFirst, c.onlySecond, 50, 0) ** 2, c.chi2, 1e-9);
  });

  it("gives an interval that contains the estimate and crosses the margin where the test says so", () => {
    const r = tangoNonInferiority(0, 16, 50, 0.1);
    expect(r.difference).toBeCloseTo(-0.32, 10);
    expect(r.interval[0]).toBeLessThan(-0.32);
    expect(r.interval[1]).toBeLessThan(-0.1);
    expect(r.pNonInferior).toBeGreaterThan(0.99);
    // Identical answers on 50 rows: non-inferior at 10 points, not at 5 (p = 0.053).
    expect(tangoNonInferiority(0, 0, 50, 0.1).pNonInferior).toBeLessThan(0.05);
    expect(tangoNonInferiority(0, 0, 50, 0.05).pNonInferior).toBeGreaterThan(0.05);
    expect(minimumPairedRows(0.05, 0.05)).toBe(52);
    expect(tangoNonInferiority(0, 0, 52, 0.05).pNonInferior).toBeLessThan(0.05);
    expect(tangoNonInferiority(0, 0, 51, 0.05).pNonInferior).toBeGreaterThan(0.05);
  });
});

describe("Jensen–Shannon with Jeffreys smoothing (scipy.spatial.distance.jensenshannon² base 2)", () => {
  it("matches, including a class one side never predicts", () => {
    for (const c of ref.jensenShannon) {
      const js = jensenShannon(new Map(Object.entries(c.first)), new Map(Object.entries(c.second)));
      close(js, c.js, 1e-9);
    }
  });
});

describe("paired bootstrap", () => {
  it("is zero with identical errors, the same on every run, and covers a real difference", () => {
    const errors = Array.from({ length: 200 }, (_, i) => Math.sin(i) * 2);
    expect(pairedBootstrap(errors, errors, "mae")).toEqual({ estimate: 0, interval: [0, 0] });
    const worse = errors.map((e) => e * 1.5);
    const a = pairedBootstrap(worse, errors, "rmse");
    expect(a).toEqual(pairedBootstrap(worse, errors, "rmse"));
    expect(a.interval[0]).toBeGreaterThan(0);
    expect(a.interval[0]).toBeLessThan(a.estimate);
    expect(a.interval[1]).toBeGreaterThan(a.estimate);
  });
});
