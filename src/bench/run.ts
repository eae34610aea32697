import { performance } from "node:perf_hooks";
import { createSender } from "./http.js";
import { type LoadContext, runClosedLoop, runOpenLoop } from "./load.js";
import { type BenchmarkOptions, validateOptions } from "./options.js";
import { encodeBodies } from "./protocols.js";
import { type BenchmarkProgress, type BenchmarkReport, buildReport, Measurement } from "./report.js";
import { WindowedMeasurement, type WindowReport } from "./windows.js";

export { loadBodies, synthesizeOipBody } from "./bodies.js";
export type { LoadMode, Protocol } from "./options.js";
export type { WindowReport } from "./windows.js";
export type { BenchmarkOptions, BenchmarkProgress, BenchmarkReport };

/** Callbacks while a run is going: progress at most once a second, and each window as it closes. */
export interface BenchmarkHooks {
  onProgress?: (p: BenchmarkProgress) => void;
  onWindow?: (w: WindowReport, index: number) => void;
}

// An open-loop run must keep its schedule even when the server stalls, so it never runs short of
// sockets below this; requests beyond it queue in the agent, and their wait still counts as latency.
const MIN_OPEN_LOOP_SOCKETS = 1000;
// Well below the ephemeral port range, so a dead server exhausts timeouts rather than the machine.
const MAX_OPEN_LOOP_SOCKETS = 20_000;

/** Drives load at the endpoint for warmup + duration and reports what was measured. */
export async function runBenchmark(
  options: BenchmarkOptions,
  hooks?: BenchmarkHooks | ((p: BenchmarkProgress) => void),
): Promise<BenchmarkReport> {
  const { onProgress, onWindow } =
    typeof hooks === "function" ? { onProgress: hooks, onWindow: undefined } : (hooks ?? {});
  const o = validateOptions(options);
  const payloads = encodeBodies(o.protocol, o.bodies, {
    stream: o.stream,
    ...(o.modelName !== undefined ? { modelName: o.modelName } : {}),
  });
  const { mode } = o;
  const maxSockets =
    mode.kind === "rate"
      ? Math.min(
          MAX_OPEN_LOOP_SOCKETS,
          Math.max(MIN_OPEN_LOOP_SOCKETS, Math.ceil((mode.rps * o.timeoutMs) / 1000)),
        )
      : mode.connections;
  const sender = createSender({
    endpoint: o.endpoint,
    headers: o.headers,
    timeoutMs: o.timeoutMs,
    maxSockets,
    stream: o.stream,
  });

  const windows = new WindowedMeasurement(o.windowS, o.durationS);
  const measurement = new Measurement(windows);
  const now = () => performance.now();
  const startMs = now();
  const warmupEndMs = startMs + o.warmupS * 1000;
  const endMs = warmupEndMs + o.durationS * 1000;
  let stoppedAtMs: number | undefined;
  const stopper = new AbortController();
  const stop = () => {
    stoppedAtMs ??= now();
    stopper.abort();
    sender.close();
  };
  if (o.signal?.aborted) stop();
  o.signal?.addEventListener("abort", stop, { once: true });

  let lastProgressMs = startMs;
  let progressTimer: NodeJS.Timeout | undefined;
  const tick = () => {
    const t = now();
    // Timers may fire a little early; the contract is at most one call per second, so wait the rest.
    const wait = lastProgressMs + 1000 - t;
    if (wait <= 0) {
      lastProgressMs = t;
      onProgress?.(measurement.progress((t - startMs) / 1000));
    }
    progressTimer = setTimeout(tick, wait > 0 ? Math.ceil(wait) : 1000);
  };
  if (onProgress) progressTimer = setTimeout(tick, 1000);

  // Each window is announced once its span has passed; answers still in flight then are left out of
  // the line (they are in the final report).
  let windowTimer: NodeJS.Timeout | undefined;
  let announced = 0;
  const windowCount = windows.report().length;
  const announce = () => {
    const elapsedS = (now() - warmupEndMs) / 1000;
    const closed = Math.min(windowCount, Math.floor(elapsedS / o.windowS + 1e-9));
    const all = windows.report();
    for (; announced < closed; announced++) onWindow?.(all[announced] as WindowReport, announced);
    if (announced < windowCount) {
      const nextAt = warmupEndMs + (announced + 1) * o.windowS * 1000;
      windowTimer = setTimeout(announce, Math.max(1, Math.ceil(nextAt - now())));
    }
  };
  if (onWindow)
    windowTimer = setTimeout(announce, Math.max(1, Math.ceil(warmupEndMs + o.windowS * 1000 - now())));

  let next = 0;
  const ctx: LoadContext = {
    sender,
    nextBody: () => payloads[next++ % payloads.length] as Buffer,
    now,
    startMs,
    warmupEndMs,
    endMs,
    stop: stopper.signal,
    onOutcome: (outcome, sentAtMs, latencyMs) => {
      if (sentAtMs >= warmupEndMs) {
        measurement.add(outcome, latencyMs, sentAtMs, (sentAtMs - warmupEndMs) / 1000);
      }
    },
  };

  let behindSchedule = false;
  let maxScheduleLagMs = 0;
  try {
    if (mode.kind === "rate") {
      const lag = await runOpenLoop(ctx, mode.rps);
      behindSchedule = lag.behind;
      maxScheduleLagMs = lag.maxMs;
    } else {
      await runClosedLoop(ctx, mode.connections);
    }
  } finally {
    clearTimeout(progressTimer);
    clearTimeout(windowTimer);
    o.signal?.removeEventListener("abort", stop);
    sender.close();
  }

  const measuredEndMs = Math.min(stoppedAtMs ?? endMs, endMs);
  const measuredS = Math.max(0, measuredEndMs - warmupEndMs) / 1000;
  // The last window closes as the run ends, before its timer could fire: announce what is left.
  if (onWindow) {
    const all = windows.report(measuredS);
    for (; announced < all.length; announced++) onWindow(all[announced] as WindowReport, announced);
  }
  return buildReport({
    measurement,
    settings: {
      url: o.url,
      protocol: o.protocol,
      mode,
      durationS: o.durationS,
      warmupS: o.warmupS,
      timeoutMs: o.timeoutMs,
      windowS: o.windowS,
      stream: o.stream,
    },
    measuredS,
    aborted: stoppedAtMs !== undefined,
    behindSchedule,
    maxScheduleLagMs,
  });
}
