// The decision harness, part 1: rollouts simulated through the real controller (runCanary, advance)
// and the real gates, with in-memory ports: a fake clock, requests generated per step at the
// plan's rate and weight with latencies and errors drawn from each track's model, and eval-set
// answers drawn per row. Nothing here is a copy of the decision code: only the traffic is fake.
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import type { EvalAnswers } from "../src/gates/accuracy.js";
import {
  emptyTrack,
  type LatencyBuckets,
  noErrors,
  type StepMetrics,
  type TrackMetrics,
} from "../src/gates/metrics.js";
import { seededRandom } from "../src/gates/statistics.js";
import { canaryPlan } from "../src/pipeline/deploy.js";
import type { CanaryPlan } from "../src/rollout/advance.js";
import { type RolloutReport, runCanary } from "../src/rollout/canary.js";
import { BUCKETS } from "../src/serve/metrics.js";
import { addRevision, deployStable, emptyLedger, type Ledger } from "../src/state/ledger.js";
import type { LedgerStore } from "../src/state/store.js";
import { bucketSummary } from "../src/targets/kubernetes/prometheus-metrics.js";
import type { Endpoint, MetricsSource, SyntheticTraffic, Track, Workloads } from "../src/targets/ports.js";

export type Random = () => number;

/**
 * What the metrics port hands the gates: raw latencies (`samplesMs`, as the local target's router
 * keeps them) or Prometheus histogram buckets only (`latencyBuckets`, as PrometheusMetrics reads
 * them on Kubernetes).
 */
export type MetricsMode = "samples" | "buckets";

/**
 * The reference model server's histogram edges (src/serve/metrics.ts, in seconds) in ms, with the
 * +Inf bucket, converted as PrometheusMetrics converts the `le` labels.
 */
export const BUCKET_EDGES_MS = [...BUCKETS.map((s) => s * 1000), Number.POSITIVE_INFINITY];

/**
 * Successful requests' latencies as the server's histogram counts them (an observation goes in
 * every bucket whose edge it does not exceed), and the summary PrometheusMetrics derives from them.
 */
export function bucketsOf(samplesMs: number[]): LatencyBuckets {
  const cumulative = BUCKET_EDGES_MS.map(() => 0);
  for (const ms of samplesMs) {
    const i = BUCKET_EDGES_MS.findIndex((edge) => ms <= edge);
    cumulative[i] = (cumulative[i] as number) + 1;
  }
  for (let i = 1; i < cumulative.length; i++)
    cumulative[i] = (cumulative[i] as number) + (cumulative[i - 1] as number);
  return { le: [...BUCKET_EDGES_MS], cumulative };
}

/** How one track answers live traffic. */
export interface TrackModel {
  /** A latency in ms for a successful request. */
  latency(random: Random): number;
  /** Probability that a request fails with a 5xx. */
  errorRate: number;
}

/** How the two tracks answer the eval set: per row, stable right w.p. `stableAccuracy`. */
export interface EvalModel {
  rows: number;
  stableAccuracy: number;
  /** The stable passed its own first deployment on this eval set: sets where it scores below are redrawn. */
  stableMin?: number;
  /** Canary answers: "same" as the stable, or right where the stable is except on a share of rows. */
  canary:
    | { kind: "same" }
    | { kind: "drop"; points: number }
    | { kind: "disagree"; share: number }
    /** As accurate as the stable, but wrong on other rows: wrong on `share` of the stable's right rows, right on as many of its wrong ones. */
    | { kind: "retrained"; share: number };
}

export interface Scenario {
  name: string;
  stable: TrackModel;
  canary: TrackModel;
  eval?: EvalModel;
  trafficRate: number;
  /** Extra plan settings (e.g. an agreement minimum). */
  tweak?: (plan: CanaryPlan) => CanaryPlan;
}

/** Standard normal from two uniforms (Box–Muller). */
export function gaussian(random: Random): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export const lognormal =
  (medianMs: number, sigma: number, scale = 1) =>
  (random: Random) =>
    medianMs * scale * Math.exp(sigma * gaussian(random));

/** The same distribution with its upper tail stretched above the q90 so that q95 is `factor` times higher. */
export function tailStretched(medianMs: number, sigma: number, factor: number) {
  const q90 = medianMs * Math.exp(1.2815516 * sigma);
  const q95 = medianMs * Math.exp(1.6448536 * sigma);
  const k = (q95 * factor - q90) / (q95 - q90);
  return (random: Random) => {
    const x = medianMs * Math.exp(sigma * gaussian(random));
    return x > q90 ? q90 + (x - q90) * k : x;
  };
}

interface Served {
  at: number;
  ms: number;
  ok: boolean;
}

/** The ports in memory, serving simulated traffic. */
class SimTarget {
  ledger: Ledger;
  time = Date.parse("2026-01-01T00:00:00Z");
  weight = 0;
  firstCanaryTrafficAt?: number;
  revertedAt?: number;
  private readonly served: Record<Track, Served[]> = { stable: [], canary: [] };

  constructor(
    private readonly scenario: Scenario,
    private readonly random: Random,
    private readonly answers: Record<Track, EvalAnswers>,
    private readonly mode: MetricsMode = "samples",
  ) {
    let ledger = emptyLedger();
    ledger = addRevision(ledger, { name: "iris", path: "a", digest: "sha256:a" }, undefined, "t").ledger;
    ledger = addRevision(ledger, { name: "iris", path: "b", digest: "sha256:b" }, undefined, "t").ledger;
    this.ledger = deployStable(ledger, "r1", "t");
  }

  readonly clock = {
    now: () => new Date(this.time),
    sleep: async (ms: number) => {
      this.time += ms;
    },
  };

  readonly state: LedgerStore = {
    location: "memory",
    read: async () => this.ledger,
    update: async (change) => {
      this.ledger = change(this.ledger);
      return this.ledger;
    },
    lock: async () => async () => {},
  };

  readonly workloads: Workloads = {
    runStable: async () => {},
    startCanary: async () => {},
    setCanaryWeight: async (weight) => {
      this.weight = weight;
      return weight;
    },
    canaryWeight: async () => this.weight,
    promote: async () => {},
    revert: async () => {
      this.weight = 0;
      this.revertedAt ??= this.time;
    },
  };

  readonly traffic: SyntheticTraffic = {
    check: async () => {},
    generate: async (durationS) => {
      const { trafficRate, stable, canary } = this.scenario;
      const end = this.time + durationS * 1000;
      const gap = 1000 / trafficRate;
      // Poisson arrivals at the plan's rate, each sent to the canary with its weight's probability.
      for (
        let t = this.time + -Math.log(1 - this.random()) * gap;
        t < end;
        t += -Math.log(1 - this.random()) * gap
      ) {
        const track: Track = this.random() * 100 < this.weight ? "canary" : "stable";
        if (track === "canary") this.firstCanaryTrafficAt ??= t;
        const model = track === "canary" ? canary : stable;
        const ok = this.random() >= model.errorRate;
        const ms = ok ? Math.max(0.01, model.latency(this.random)) : 1;
        this.served[track].push({ at: t + ms, ms, ok });
      }
      this.time = end;
    },
  };

  readonly metrics: MetricsSource = {
    measure: async ({ start, end }): Promise<StepMetrics> => ({
      window: { start: start.toISOString(), end: end.toISOString() },
      stable: this.track("stable", start.getTime(), end.getTime()),
      canary: this.track("canary", start.getTime(), end.getTime()),
    }),
  };

  async openEndpoint(track: Track): Promise<Endpoint> {
    return { url: `sim://${track}`, close: async () => {} };
  }

  collect = async (url: string): Promise<EvalAnswers> =>
    this.answers[url.endsWith("canary") ? "canary" : "stable"];

  private track(track: Track, start: number, end: number): TrackMetrics {
    const inWindow = this.served[track].filter((s) => s.at >= start && s.at < end);
    if (this.mode === "buckets") {
      // As PrometheusMetrics: requests and 5xx from the status counter, the latencies of successful
      // requests only as the histogram's buckets (present from the first scrape, at 0 when nothing
      // was served), the summary interpolated in them, no samples.
      const latencyBuckets = bucketsOf(inWindow.filter((s) => s.ok).map((s) => s.ms));
      const errors = inWindow.filter((s) => !s.ok).length;
      return {
        requests: inWindow.length,
        errors,
        errorsByClass: { ...noErrors(), server: errors },
        latencyMs: bucketSummary(latencyBuckets),
        latencyBuckets,
      };
    }
    if (inWindow.length === 0) return emptyTrack();
    const samplesMs = inWindow.filter((s) => s.ok).map((s) => s.ms);
    const sorted = [...samplesMs].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
    const errors = inWindow.length - samplesMs.length;
    return {
      requests: inWindow.length,
      errors,
      errorsByClass: { ...noErrors(), server: errors },
      latencyMs: { p50: q(0.5), p90: q(0.9), p95: q(0.95), p99: q(0.99), max: q(1), count: inWindow.length },
      samplesMs,
    };
  }
}

/** Eval answers for both tracks from the scenario's model. */
function evalAnswers(
  model: EvalModel,
  random: Random,
): { labels: number[]; answers: Record<Track, EvalAnswers> } {
  for (;;) {
    const drawn = drawEval(model, random);
    const right = drawn.labels.filter((l, i) => drawn.answers.stable.values[i] === l).length;
    if (model.stableMin === undefined || right / model.rows >= model.stableMin) return drawn;
  }
}

function drawEval(
  model: EvalModel,
  random: Random,
): { labels: number[]; answers: Record<Track, EvalAnswers> } {
  const labels: number[] = [];
  const stable: number[] = [];
  const canary: number[] = [];
  for (let i = 0; i < model.rows; i++) {
    const label = Math.floor(random() * 3);
    const s = random() < model.stableAccuracy ? label : (label + 1) % 3;
    let c = s;
    if (model.canary.kind === "drop" && s === label && random() < model.canary.points / model.stableAccuracy)
      c = (label + 1) % 3;
    if (model.canary.kind === "disagree" && random() < model.canary.share)
      c = (s + 1 + Math.floor(random() * 2)) % 3;
    if (model.canary.kind === "retrained") {
      const fixShare = (model.stableAccuracy * model.canary.share) / (1 - model.stableAccuracy);
      if (s === label && random() < model.canary.share) c = (label + 1) % 3;
      else if (s !== label && random() < fixShare) c = label;
    }
    labels.push(label);
    stable.push(s);
    canary.push(c);
  }
  const of = (values: number[]): EvalAnswers => ({ values, failures: values.map(() => "") });
  return { labels, answers: { stable: of(stable), canary: of(canary) } };
}

export interface RolloutOutcome {
  reverted: boolean;
  canaryRequests: number;
  /** Simulated seconds from the first canary request to the revert. */
  timeToRevertS?: number;
  reason: string;
}

/** The example's plan (examples/iris/modelship.yml with the default steps and traffic), as the pipeline builds it. */
export async function basePlan(): Promise<CanaryPlan> {
  const config = await loadConfig(join(import.meta.dirname, "..", "examples", "iris", "modelship.yml"), {
    "strategy.steps": "20:10s,50:10s",
    "strategy.trafficRate": "20",
  });
  const plan = await canaryPlan(config);
  // Warm-up requests are not judged: the simulation skips them.
  return { ...plan, warmup: { requests: 0 } };
}

export async function simulate(
  scenario: Scenario,
  base: CanaryPlan,
  seed: number,
  metrics: MetricsMode = "samples",
): Promise<RolloutOutcome> {
  const random = seededRandom(seed);
  const model = scenario.eval ?? { rows: 50, stableAccuracy: 0.92, canary: { kind: "same" as const } };
  const { labels, answers } = evalAnswers(model, random);
  const target = new SimTarget(scenario, random, answers, metrics);
  let plan: CanaryPlan = base;
  if (plan.gates.accuracy) {
    plan = {
      ...plan,
      gates: {
        ...plan.gates,
        accuracy: { ...plan.gates.accuracy, rows: labels.map((label) => ({ body: {}, label })) },
      },
    };
  }
  if (scenario.tweak) plan = scenario.tweak(plan);
  const revision = target.ledger.revisions[1] as NonNullable<Ledger["revisions"][number]>;
  const report: RolloutReport = await runCanary(revision, plan, {
    target,
    clock: target.clock,
    collectAnswers: target.collect,
  });
  const canaryRequests = report.steps.reduce((sum, s) => sum + s.canary.requests, 0);
  const reverted = report.outcome === "reverted";
  return {
    reverted,
    canaryRequests,
    reason: report.reason,
    ...(reverted && target.firstCanaryTrafficAt !== undefined && target.revertedAt !== undefined
      ? { timeToRevertS: (target.revertedAt - target.firstCanaryTrafficAt) / 1000 }
      : {}),
  };
}

/** Wilson score interval for k of n at 95%. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.959964;
  const p = k / n;
  const centre = (p + (z * z) / (2 * n)) / (1 + (z * z) / n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / (1 + (z * z) / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}
