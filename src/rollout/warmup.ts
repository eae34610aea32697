import { synthesizeOipBody } from "../bench/run.js";
import { median } from "../gates/statistics.js";

/** What the warm-up requests saw: a fresh process's cold start, reported apart from the steps. */
export interface WarmupReport {
  requests: number;
  errors: number;
  /** The first request, where model loading and JIT show. */
  firstMs: number;
  medianMs: number;
  maxMs: number;
}

/**
 * Sends `requests` requests one by one to the canary's own server before it takes any traffic,
 * so its cold start (lazy loading, first allocations, JIT) is spent here and not judged against a
 * warm stable. Bodies cycle through `bodies`, or one synthesised from the model's signature.
 */
export async function warmUp(
  url: string,
  modelName: string,
  requests: number,
  bodies?: unknown[],
): Promise<WarmupReport> {
  const pool = bodies?.length ? bodies : [await synthesizeOipBody(url, modelName)];
  const endpoint = `${url}/v2/models/${encodeURIComponent(modelName)}/infer`;
  const times: number[] = [];
  let errors = 0;
  for (let i = 0; i < requests; i++) {
    const started = performance.now();
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(pool[i % pool.length]),
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      if (!response.ok) errors++;
    } catch {
      errors++;
    }
    times.push(performance.now() - started);
  }
  const round = (ms: number) => Number(ms.toFixed(2));
  return {
    requests,
    errors,
    firstMs: round(times[0] ?? 0),
    medianMs: round(median(times) || 0),
    maxMs: round(Math.max(0, ...times)),
  };
}
