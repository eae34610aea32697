import type { Completed, Sender } from "./http.js";
import { dueCount, intendedTime, ScheduleLag, totalRequests } from "./schedule.js";

export interface LoadContext {
  sender: Sender;
  nextBody(): Buffer;
  now(): number;
  startMs: number;
  /** Requests (intended, for open loop; sent, for closed loop) before this time are warmup. */
  warmupEndMs: number;
  endMs: number;
  /** Aborted when the run is stopped early; in-flight requests are then cancelled by the sender. */
  stop: AbortSignal;
  /** `sentAtMs`: intended send time (open loop) or actual one (closed loop); warmup is decided from it. */
  onOutcome(outcome: Completed, sentAtMs: number, latencyMs: number): void;
}

function sleepUntil(now: () => number, atMs: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, Math.ceil(atMs - now())));
    stop.addEventListener("abort", done, { once: true });
  });
}

/** Sends at a fixed rate whatever the server does; returns how well the generator kept to it. */
export async function runOpenLoop(ctx: LoadContext, rps: number): Promise<ScheduleLag> {
  const lag = new ScheduleLag();
  const total = totalRequests(rps, ctx.endMs - ctx.startMs);
  const pending = new Set<Promise<void>>();
  let next = 0;
  while (next < total && !ctx.stop.aborted) {
    const due = dueCount(ctx.startMs, rps, ctx.now(), total);
    for (; next < due; next++) {
      const intended = intendedTime(ctx.startMs, rps, next);
      if (intended >= ctx.warmupEndMs) lag.note(ctx.now() - intended);
      const done: Promise<void> = ctx.sender.send(ctx.nextBody()).then((outcome) => {
        pending.delete(done);
        if ("cancelled" in outcome) return;
        ctx.onOutcome(outcome, intended, ctx.now() - intended);
      });
      pending.add(done);
    }
    if (next < total) await sleepUntil(ctx.now, intendedTime(ctx.startMs, rps, next), ctx.stop);
  }
  await Promise.all(pending);
  return lag;
}

/** `connections` workers, each sending its next request as soon as the previous one completes. */
export async function runClosedLoop(ctx: LoadContext, connections: number): Promise<void> {
  const worker = async () => {
    while (!ctx.stop.aborted && ctx.now() < ctx.endMs) {
      const started = ctx.now();
      const outcome = await ctx.sender.send(ctx.nextBody());
      if ("cancelled" in outcome) return;
      ctx.onOutcome(outcome, started, ctx.now() - started);
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}
