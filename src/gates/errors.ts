import { type GateName, type GateResult, MIN_TRAFFIC_SAMPLES, pText, round, tooFew } from "./gates.js";
import { serverErrors, type TrackMetrics } from "./metrics.js";
import { binomialSf, clopperPearson, fisherGreater } from "./statistics.js";

const pct = (value: number) => `${round(value * 100, 2)}%`;

/**
 * The absolute maximum on the canary's own failures (5xx, resets, timeouts; 4xx are the clients'
 * and are compared apart): fails when the rate is significantly above `max` (one-sided exact
 * binomial test at `alpha`), so one unlucky error in 40 requests no longer reverts a good canary.
 * A rate above `max` that is not significant passes with a warning; `max: 0` fails on any error.
 */
export function errorRateGate(
  canary: TrackMetrics,
  max: number,
  alpha: number,
  min = MIN_TRAFFIC_SAMPLES,
): GateResult {
  const n = canary.requests;
  if (n < min) return tooFew("error-rate", n, min, max, "canary requests");
  const errors = serverErrors(canary);
  const rate = errors / n;
  const pValue = binomialSf(errors, n, max);
  const fail = pValue < alpha;
  const interval = clopperPearson(errors, n);
  return {
    gate: "error-rate",
    status: fail ? "fail" : "pass",
    observed: round(rate, 4),
    threshold: max,
    samples: n,
    test: "one-sided exact binomial: rate > max",
    pValue,
    alpha,
    estimate: round(rate, 4),
    interval: [round(interval[0], 4), round(interval[1], 4)],
    sizes: { canary: n },
    ...(rate > max && !fail ? { warnings: [`the rate is above ${max} but not significantly (yet)`] } : {}),
    message:
      `canary error rate ${round(rate, 4)} (${errors}/${n}, 95% CI ${pct(interval[0])}…${pct(interval[1])}) ` +
      `${fail ? "significantly above" : "not shown above"} ${max} (p=${pText(pValue)}, α=${pText(alpha)})`,
  };
}

/**
 * One class of errors, canary against stable on the same window, by a one-sided Fisher exact
 * test (exact at any count: 0 against 0 gives p = 1). Server errors (5xx and no answer) are the
 * canary's fault; client errors (4xx) are compared too, because a canary that answers 400 to
 * requests the stable accepts has broken its API, while malformed requests hit both tracks alike.
 */
export function errorsVsStableGate(
  kind: "server" | "client",
  canary: TrackMetrics,
  stable: TrackMetrics,
  alpha: number,
  options: { min?: number; critical?: number } = {},
): GateResult | undefined {
  const gate: GateName = kind === "server" ? "errors-vs-stable" : "client-errors-vs-stable";
  if (stable.requests === 0) return undefined; // the stable served nothing: nothing to compare with
  const min = options.min ?? MIN_TRAFFIC_SAMPLES;
  const n = Math.min(canary.requests, stable.requests);
  if (n < min) return tooFew(gate, n, min, Number.NaN, "requests on the smaller side");
  const count = (t: TrackMetrics) => (kind === "server" ? serverErrors(t) : t.errorsByClass.client);
  const [c, s] = [count(canary), count(stable)];
  const [rc, rs] = [c / canary.requests, s / stable.requests];
  const pValue = fisherGreater(c, canary.requests, s, stable.requests);
  // During a step (interim look), only a clear failure aborts: the rate must also reach `critical`.
  const material = options.critical === undefined || rc >= options.critical;
  const fail = pValue < alpha && material;
  const what = kind === "server" ? "5xx/no answer" : "4xx";
  return {
    gate,
    status: fail ? "fail" : "pass",
    observed: round(rc, 4),
    threshold: round(rs, 4),
    samples: n,
    test: "one-sided Fisher exact",
    pValue,
    alpha,
    estimate: round(rc - rs, 4),
    sizes: { canary: canary.requests, stable: stable.requests },
    message:
      `${what}: canary ${c}/${canary.requests} (${pct(rc)}) vs stable ${s}/${stable.requests} (${pct(rs)}); ` +
      `${fail ? "significantly more" : "not shown more"} (p=${pText(pValue)}, α=${pText(alpha)}${options.critical !== undefined ? `, abort at ≥ ${pct(options.critical)}` : ""})`,
  };
}
