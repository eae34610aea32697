import { lnChoose } from "./distributions.js";

/**
 * Fisher's exact test, one-sided: is the first group's proportion of "events" greater than the
 * second's? `events1` of `n1` against `events2` of `n2`. Conditional on the margins, the first
 * group's count is hypergeometric; the p-value is its upper tail, as SciPy's
 * `fisher_exact([[events1, n1 - events1], [events2, n2 - events2]], alternative="greater")`.
 * Exact at any count, so 0 against 0 (p = 1) and a handful of errors need no special case.
 */
export function fisherGreater(events1: number, n1: number, events2: number, n2: number): number {
  const total = events1 + events2;
  if (total === 0 || n1 === 0 || n2 === 0) return 1;
  const n = n1 + n2;
  const low = Math.max(0, total - n2);
  const high = Math.min(n1, total);
  const lnDenominator = lnChoose(n, total);
  const pmf = (x: number) => Math.exp(lnChoose(n1, x) + lnChoose(n2, total - x) - lnDenominator);
  // Sum the smaller tail, walking away from the mean, so no term that matters underflows.
  const mean = (n1 * total) / n;
  if (events1 > mean) return Math.min(1, tailSum(events1, high, 1));
  return Math.max(0, 1 - tailSum(events1 - 1, low, -1));

  function tailSum(from: number, to: number, direction: 1 | -1): number {
    if (direction === -1 && from < to) return 0;
    let term = pmf(from);
    let sum = 0;
    for (let x = from; direction === 1 ? x <= to : x >= to; x += direction) {
      sum += term;
      term *=
        direction === 1
          ? ((n1 - x) * (total - x)) / ((x + 1) * (n2 - total + x + 1))
          : (x * (n2 - total + x)) / ((n1 - x + 1) * (total - x + 1));
      if (term <= sum * 1e-17) break;
    }
    return sum;
  }
}
