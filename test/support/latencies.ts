import { seededRandom } from "../../src/gates/statistics.js";

/** Lognormal latencies (ms) with the given median and log-sd, from a seed: the same every run. */
export function lognormal(n: number, medianMs: number, sigma: number, seed: number): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const u = Math.max(random(), 1e-12);
    const v = random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    out.push(medianMs * Math.exp(sigma * z));
  }
  return out;
}
