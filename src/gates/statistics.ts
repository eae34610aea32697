/**
 * The one-sided Mann–Whitney U test: is the canary's latency stochastically greater than the
 * stable's? Rank-based, so it needs no assumption about the latency distribution (which is
 * skewed and heavy-tailed). Normal approximation with tie and continuity corrections, as SciPy's
 * `mannwhitneyu(method="asymptotic")`; written here because the statistics packages on npm offer
 * no U test with a p-value.
 */
export interface UTestResult {
  u: number;
  /** P(a sample this extreme | canary no slower than stable). */
  pValue: number;
}

export function mannWhitneyGreater(candidate: readonly number[], baseline: readonly number[]): UTestResult {
  const n1 = candidate.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) throw new Error("the U test needs samples on both sides");
  const pooled = [
    ...candidate.map((value) => ({ value, fromCandidate: true })),
    ...baseline.map((value) => ({ value, fromCandidate: false })),
  ].sort((a, b) => a.value - b.value);
  const n = n1 + n2;
  let candidateRankSum = 0;
  let tieTerm = 0;
  for (let start = 0; start < n; ) {
    let end = start;
    while (
      end + 1 < n &&
      (pooled[end + 1] as { value: number }).value === (pooled[start] as { value: number }).value
    )
      end++;
    const midrank = (start + end) / 2 + 1; // ranks are 1-based
    for (let i = start; i <= end; i++)
      if ((pooled[i] as { fromCandidate: boolean }).fromCandidate) candidateRankSum += midrank;
    const ties = end - start + 1;
    tieTerm += ties ** 3 - ties;
    start = end + 1;
  }
  const u = candidateRankSum - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance === 0) return { u, pValue: 0.5 }; // every value equal: no evidence either way
  const z = (u - mean - 0.5) / Math.sqrt(variance);
  return { u, pValue: 1 - normalCdf(z) };
}

/** Φ(z) from erfc (W. J. Cody's rational approximation as in Numerical Recipes' erfcc; |error| < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}
