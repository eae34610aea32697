// Open-loop timing as in wrk2: request i is due at start + i/rps whatever happened to earlier requests,
// and its latency counts from that intended time, so a stalled server cannot hide its stall by
// slowing the generator down (coordinated omission).

/** Intended send time (ms) of request `index` in a run started at `startMs`. */
export function intendedTime(startMs: number, rps: number, index: number): number {
  return startMs + (index * 1000) / rps;
}

// Guards against 150.00000000002 turning into an extra request.
const EPSILON = 1e-9;

/** How many requests have an intended time before `spanMs` has elapsed. */
export function totalRequests(rps: number, spanMs: number): number {
  return Math.max(0, Math.ceil((spanMs * rps) / 1000 - EPSILON));
}

/** How many requests are due by `nowMs` (intended time <= now), never more than `total`. */
export function dueCount(startMs: number, rps: number, nowMs: number, total: number): number {
  if (nowMs < startMs) return 0;
  return Math.min(total, Math.floor(((nowMs - startMs) * rps) / 1000 + EPSILON) + 1);
}

/**
 * Tracks how late the generator itself issued requests. Timer jitter and a busy shared CI machine
 * cost a few ms now and then; the generator is "behind" (the server saw less load than asked) when
 * more than 5% of requests left over 50 ms after their intended time.
 */
export class ScheduleLag {
  static readonly lateMs = 50;
  static readonly lateFraction = 0.05;
  private issued = 0;
  private late = 0;
  private max = 0;

  note(lagMs: number): void {
    this.issued++;
    if (lagMs > ScheduleLag.lateMs) this.late++;
    if (lagMs > this.max) this.max = lagMs;
  }

  get maxMs(): number {
    return this.max;
  }

  get behind(): boolean {
    return this.issued > 0 && this.late / this.issued > ScheduleLag.lateFraction;
  }
}
