"""Reference values for the gates' statistics, computed once with SciPy/statsmodels and committed.

Run (from the repository root; the virtualenv lives in a per-machine cache, outside the clone):

    python3 -m venv ~/.cache/modelship/reference-venv
    ~/.cache/modelship/reference-venv/bin/pip install -r test/reference/requirements.txt
    ~/.cache/modelship/reference-venv/bin/python test/reference/make-stats.py > test/reference/stats.json

The tests (test/unit/stats-reference.test.ts) read the JSON; they never run Python.
"""
import json
import sys

import numpy as np
import scipy
import statsmodels
from scipy import optimize, special, stats
from scipy.spatial.distance import jensenshannon
from statsmodels.stats.contingency_tables import mcnemar

rng = np.random.default_rng(20261201)

out = {
    "command": "~/.cache/modelship/reference-venv/bin/python test/reference/make-stats.py > test/reference/stats.json",
    "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                 "statsmodels": statsmodels.__version__},
}

out["normalQuantile"] = [{"p": p, "z": float(stats.norm.ppf(p))} for p in [1e-9, 1e-6, 0.001, 0.01, 0.025, 0.05, 0.3, 0.5, 0.9, 0.99, 0.999999]]
out["normalSf"] = [{"z": z, "p": float(stats.norm.sf(z))} for z in [-3, 0, 1.5, 3, 5, 7, 9]]

out["regularizedBeta"] = [{"x": x, "a": a, "b": b, "value": float(special.betainc(a, b, x))}
                          for (x, a, b) in [(0.3, 2, 5), (0.9, 50, 3), (0.01, 1, 1000), (0.5, 0.5, 0.5), (0.999, 200, 2)]]

binom = []
for k, n, p in [(0, 10, 0.1), (1, 40, 0.01), (3, 40, 0.01), (5, 100, 0.01), (30, 1000, 0.02), (40, 50, 0.9), (44, 50, 0.9), (0, 20000, 0.001), (120, 20000, 0.005)]:
    binom.append({"k": k, "n": n, "p": p, "sf": float(stats.binom.sf(k - 1, n, p)), "cdf": float(stats.binom.cdf(k, n, p))})
out["binomial"] = binom

cp = []
for k, n, alpha in [(0, 50, 0.05), (44, 50, 0.05), (50, 50, 0.05), (1, 40, 0.01), (920, 1000, 0.05), (3, 7, 0.1)]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=1 - alpha, method="exact")
    cp.append({"k": k, "n": n, "alpha": alpha, "low": float(ci.low), "high": float(ci.high)})
out["clopperPearson"] = cp

fisher = []
for a, n1, c, n2 in [(0, 40, 0, 160), (1, 40, 0, 160), (2, 40, 0, 160), (4, 8, 0, 32), (8, 16, 0, 64), (20, 1000, 5, 4000),
                     (3, 50, 10, 200), (0, 10, 5, 10), (200, 2000, 150, 8000), (5, 5, 0, 5)]:
    _, p = stats.fisher_exact([[a, n1 - a], [c, n2 - c]], alternative="greater")
    fisher.append({"events1": a, "n1": n1, "events2": c, "n2": n2, "p": float(p)})
out["fisherGreater"] = fisher

mw = []
for name, x, y in [
    ("lognormal 60 vs 200", rng.lognormal(np.log(10), 0.5, 60) * 1.2, rng.lognormal(np.log(10), 0.5, 200)),
    ("rounded ties", np.round(rng.normal(5, 1, 80), 0), np.round(rng.normal(4.6, 1, 90), 0)),
    ("equal", rng.normal(3, 1, 300), rng.normal(3, 1, 300)),
]:
    r = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    n1, n2 = len(x), len(y)
    z = stats.norm.ppf(0.975)
    c = max(1, int(round(n1 * n2 / 2 - z * np.sqrt(n1 * n2 * (n1 + n2 + 1) / 12))))
    mw.append({"name": name, "x": x.tolist(), "y": y.tolist(), "u": float(r.statistic), "p": float(r.pvalue),
               "hl": float(np.median(diffs)), "ciLow": float(diffs[c - 1]), "ciHigh": float(diffs[n1 * n2 - c])})
out["mannWhitney"] = mw

# Grouped data: the U test on bucket indices repeated by their counts is the same test.
grouped = []
for cx, cy in [([5, 10, 20, 5, 0, 1], [30, 40, 60, 10, 2, 0]), ([0, 0, 3, 9, 20, 4], [10, 30, 40, 9, 1, 0])]:
    x = np.repeat(np.arange(len(cx)), cx)
    y = np.repeat(np.arange(len(cy)), cy)
    r = stats.mannwhitneyu(x, y, alternative="greater", method="asymptotic", use_continuity=True)
    grouped.append({"candidate": cx, "baseline": cy, "u": float(r.statistic), "p": float(r.pvalue)})
out["mannWhitneyGrouped"] = grouped


def tango_reference(b, c, n, d0):
    """Tango's score statistic with the restricted MLE found numerically (not the closed form)."""
    rest = n - b - c

    def negloglik(q21):
        q12 = q21 + d0
        qr = 1 - q12 - q21
        if q21 <= 0 or q12 <= 0 or qr <= 0:
            return 1e300
        return -(b * np.log(q12) + c * np.log(q21) + rest * np.log(qr))

    lo = max(0.0, -d0) + 1e-12
    hi = (1 - d0) / 2 - 1e-12
    q21 = optimize.minimize_scalar(negloglik, bounds=(lo, hi), method="bounded", options={"xatol": 1e-13}).x
    return float((b - c - n * d0) / np.sqrt(n * (2 * q21 + d0 * (1 - d0))))


tango = []
for b, c, n, d0 in [(0, 0, 50, -0.05), (0, 0, 50, -0.1), (0, 0, 150, -0.05), (6, 0, 50, -0.1), (0, 16, 50, -0.1),
                    (5, 3, 100, -0.05), (12, 20, 300, -0.05), (1, 1, 20, 0.1)]:
    t = tango_reference(b, c, n, d0)
    tango.append({"onlyFirst": b, "onlySecond": c, "n": n, "delta0": d0, "statistic": t, "pNonInferior": float(stats.norm.sf(t))})
out["tango"] = tango
# At Δ₀ = 0 the score statistic is McNemar's: statsmodels' chi-square (no correction) is its square.
mc = []
for b, c in [(6, 2), (10, 3), (1, 7)]:
    r = mcnemar([[10, b], [c, 30]], exact=False, correction=False)
    mc.append({"onlyFirst": b, "onlySecond": c, "chi2": float(r.statistic)})
out["mcnemar"] = mc

js = []
for p, q in [({"0": 17, "1": 16, "2": 17}, {"0": 17, "1": 16, "2": 17}), ({"0": 17, "1": 16, "2": 17}, {"0": 17, "1": 33}),
             ({"a": 90, "b": 10}, {"a": 60, "b": 30, "c": 10})]:
    keys = sorted(set(p) | set(q))
    pv = np.array([p.get(k, 0) + 0.5 for k in keys], dtype=float)
    qv = np.array([q.get(k, 0) + 0.5 for k in keys], dtype=float)
    js.append({"first": p, "second": q, "js": float(jensenshannon(pv / pv.sum(), qv / qv.sum(), base=2) ** 2)})
out["jensenShannon"] = js

json.dump(out, sys.stdout, indent=1)
print()
