// `npm run bench -- decisions`: how often the gates revert a good canary and catch a bad one.
//   1. Simulation through the real controller and gates (bench/decisions-sim.ts): A/A rollouts at
//      the default plan and traffic, and known regressions at growing traffic or eval-set sizes
//      until the detection target is met, with 95% Wilson intervals.
//   2. End to end on the local target (bench/decisions-e2e.ts): A/A deploys of a byte-different
//      copy of the example's v2 and bad canaries, counting verdicts and time to revert.
// DECISIONS_AA (default 2000) and DECISIONS_DETECT (500) set the simulated rollouts per row;
// DECISIONS_E2E_AA (30) the end-to-end A/A deploys; DECISIONS_PART=sim|e2e runs one part;
// DECISIONS_ONLY=regex only the simulated rows whose name matches. DECISIONS_METRICS=buckets hands the
// gates Prometheus histogram buckets (the reference server's edges) instead of raw samples, as on
// Kubernetes, and runs the A/A rows, the latency regressions and a fast model's rows.
import { textTable } from "../src/util/table.js";
import { runEndToEnd } from "./decisions-e2e.js";
import {
  basePlan,
  lognormal,
  type MetricsMode,
  type RolloutOutcome,
  type Scenario,
  simulate,
  type TrackModel,
  tailStretched,
  wilson,
} from "./decisions-sim.js";

const AA = Number(process.env.DECISIONS_AA ?? 2000);
const DETECT = Number(process.env.DECISIONS_DETECT ?? 500);
const METRICS = (process.env.DECISIONS_METRICS ?? "samples") as MetricsMode;
if (METRICS !== "samples" && METRICS !== "buckets")
  throw new Error(`DECISIONS_METRICS=${METRICS}: expected samples or buckets`);
const BUCKETS = METRICS === "buckets";

// Latency of both tracks: lognormal, median 10 ms, log-sd 0.8 (p95 37 ms, p99 64 ms).
const MEDIAN = 10;
const SIGMA = 0.8;
const good = (errorRate = 0): TrackModel => ({ latency: lognormal(MEDIAN, SIGMA), errorRate });
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
const interval = (k: number, n: number) => {
  const [lo, hi] = wilson(k, n);
  return `${pct(k / n)} [${pct(lo)}, ${pct(hi)}]`;
};
const median = (values: number[]) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? (s[Math.floor((s.length - 1) / 2)] as number) : Number.NaN;
};

async function runMany(scenario: Scenario, n: number, seedBase: number): Promise<RolloutOutcome[]> {
  const plan = await basePlan();
  const out: RolloutOutcome[] = [];
  for (let i = 0; i < n; i++) out.push(await simulate(scenario, plan, seedBase + i, METRICS));
  return out;
}

/** The reverted rollouts counted by the gate that reverted them. */
function revertedBy(results: RolloutOutcome[]): string {
  const byGate = new Map<string, number>();
  for (const r of results.filter((r) => r.reverted)) {
    const gate =
      /^(?:aborted [^:]+: |inconclusive (?:at step \d+[^:]*: )?)?([a-z-]+)/.exec(r.reason)?.[1] ?? "other";
    byGate.set(gate, (byGate.get(gate) ?? 0) + 1);
  }
  return [...byGate.entries()].map(([gate, n]) => `${gate} ${n}`).join(", ") || "–";
}

interface Ladder {
  name: string;
  target: number;
  /** The scenario at a volume: traffic rate (requests/s) or eval-set rows. */
  at(volume: number): Scenario;
  volumes: number[];
  unit: "req/s" | "eval rows";
  /** A latency regression: also run on buckets. */
  latency?: true;
}

async function simulation(): Promise<void> {
  console.log(`### Simulation: ${AA} A/A rollouts per row, ${DETECT} per regression row\n`);
  console.log(
    "Plan: the example's gates (p95 ≤ 250 ms, errors ≤ 1%, eval set min 0.85, margin 0.1) with the default",
  );
  console.log(
    "steps (20% for 10 s, 50% for 10 s), 20 req/s, α = 0.01 for the whole rollout, looks every 1 s,",
  );
  console.log(`1 extension. Latency lognormal, median ${MEDIAN} ms, log-sd ${SIGMA}.\n`);
  if (BUCKETS)
    console.log(
      "Metrics: Prometheus buckets only (the reference server's edges, 0.1 ms … 10 s and +Inf), no samples.\n",
    );

  const evalSame = { rows: 50, stableAccuracy: 0.92, stableMin: 0.85, canary: { kind: "same" as const } };
  const aa: [string, Scenario][] = [
    [
      "A/A, 0.5% errors on both",
      { name: "", stable: good(0.005), canary: good(0.005), eval: evalSame, trafficRate: 20 },
    ],
    [
      "A/A, 1% errors on both",
      { name: "", stable: good(0.01), canary: good(0.01), eval: evalSame, trafficRate: 20 },
    ],
    [
      "A/A, canary 3% slower (a fresh process)",
      {
        name: "",
        stable: good(0.005),
        canary: { latency: lognormal(MEDIAN, SIGMA, 1.03), errorRate: 0.005 },
        eval: evalSame,
        trafficRate: 20,
      },
    ],
    [
      "A/A, accuracy 0.92 both on 50 rows (same answers)",
      { name: "", stable: good(), canary: good(), eval: evalSame, trafficRate: 20 },
    ],
    [
      "A/A, a retrained model as accurate (0.95), wrong on other rows (2%), 50 rows",
      {
        name: "",
        stable: good(),
        canary: good(),
        eval: { ...evalSame, stableAccuracy: 0.95, canary: { kind: "retrained", share: 0.02 } },
        trafficRate: 20,
      },
    ],
    ...[200, 400, 800].map((rows): [string, Scenario] => [
      `the same at margin 0.05 on ${rows} rows`,
      {
        name: "",
        stable: good(),
        canary: good(),
        eval: { ...evalSame, rows, stableAccuracy: 0.95, canary: { kind: "retrained", share: 0.02 } },
        trafficRate: 20,
        tweak: (plan) => ({
          ...plan,
          gates: {
            ...plan.gates,
            ...(plan.gates.accuracy ? { accuracy: { ...plan.gates.accuracy, margin: 0.05 } } : {}),
          },
        }),
      },
    ]),
  ];
  const only = process.env.DECISIONS_ONLY ? new RegExp(process.env.DECISIONS_ONLY) : undefined;
  const aaRows = [];
  for (const [i, [name, scenario]] of aa.entries()) {
    if (only && !only.test(name)) continue;
    const results = await runMany(scenario, AA, 1_000_000 * (i + 1));
    const reverted = results.filter((r) => r.reverted);
    aaRows.push([
      name,
      AA,
      interval(reverted.length, AA),
      Math.round(median(results.map((r) => r.canaryRequests))),
      revertedBy(results),
    ]);
  }
  console.log(
    textTable(["A/A case", "rollouts", "false reverts [95% CI]", "canary requests", "reverted by"], aaRows),
  );

  if (BUCKETS) {
    // A sub-millisecond model as measured on the test cluster: the canary ~0.3 ms slower at the
    // median and ~3× at p95. At the default allowance (+10% / +0.5 ms) its tail is beyond it and it
    // should be reverted; at minIncreaseMs 5 it is within it and should pass.
    const fast = (minIncreaseMs?: number): Scenario => ({
      name: "",
      stable: { latency: lognormal(0.45, 0.485), errorRate: 0 },
      canary: { latency: lognormal(0.75, 0.843), errorRate: 0 },
      eval: evalSame,
      trafficRate: 20,
      ...(minIncreaseMs === undefined
        ? {}
        : {
            tweak: (plan) => ({
              ...plan,
              gates: {
                ...plan.gates,
                ...(plan.gates.latency ? { latency: { ...plan.gates.latency, minIncreaseMs } } : {}),
              },
            }),
          }),
    });
    const fastRows = [];
    const fastCases: [string, string, Scenario, number, string][] = [
      ["default: +10% / +0.5 ms", "should revert: detected", fast(), DETECT, "1"],
      ["minIncreaseMs 5: +10% / +5 ms", "should pass: false reverts", fast(5), AA, "2"],
    ];
    for (const [allowance, reading, scenario, n, seed] of fastCases) {
      const name = `fast model, ${allowance}`;
      if (only && !only.test(name)) continue;
      const results = await runMany(scenario, n, 70_000_000 + Number(seed) * 1_000_000);
      fastRows.push([
        allowance,
        n,
        interval(results.filter((r) => r.reverted).length, n),
        reading,
        Math.round(median(results.map((r) => r.canaryRequests))),
        revertedBy(results),
      ]);
    }
    console.log();
    console.log(
      "A canary at 20% of the traffic on a fast model, ~0.3 ms slower at the median: stable lognormal median",
    );
    console.log(
      "0.45 ms, log-sd 0.485 (p95 1.0 ms), canary median 0.75 ms, log-sd 0.843 (p95 3.0 ms); 20 req/s.\n",
    );
    console.log(
      textTable(
        ["allowance", "rollouts", "reverted [95% CI]", "reads as", "canary requests", "reverted by"],
        fastRows,
      ),
    );
  }

  const stable0 = good(0);
  const evalDrop = (points: number) => (rows: number) => ({
    name: "",
    stable: stable0,
    canary: stable0,
    eval: { rows, stableAccuracy: 0.95, canary: { kind: "drop" as const, points } },
    trafficRate: 20,
  });
  const ladders: Ladder[] = [
    {
      name: "median +25%",
      latency: true,
      target: 0.99,
      unit: "req/s",
      volumes: [20, 160, 320, 640, 1280],
      at: (r) => ({
        name: "",
        stable: stable0,
        canary: { latency: lognormal(MEDIAN, SIGMA, 1.25), errorRate: 0 },
        trafficRate: r,
      }),
    },
    {
      name: "median +25%, log-sd 0.3",
      latency: true,
      target: 0.99,
      unit: "req/s",
      volumes: [20, 40, 80, 160],
      at: (r) => ({
        name: "",
        stable: { latency: lognormal(MEDIAN, 0.3), errorRate: 0 },
        canary: { latency: lognormal(MEDIAN, 0.3, 1.25), errorRate: 0 },
        trafficRate: r,
      }),
    },
    {
      name: "tail only: p95 +25%, same median",
      latency: true,
      target: 0.95,
      unit: "req/s",
      volumes: [20, 320, 640, 1280],
      at: (r) => ({
        name: "",
        stable: stable0,
        canary: { latency: tailStretched(MEDIAN, SIGMA, 1.25), errorRate: 0 },
        trafficRate: r,
      }),
    },
    {
      name: "5% 5xx vs 0%",
      target: 0.99,
      unit: "req/s",
      volumes: [20, 40, 60, 80, 160],
      at: (r) => ({ name: "", stable: stable0, canary: good(0.05), trafficRate: r }),
    },
    {
      name: "2% 5xx vs 0%",
      target: 0.95,
      unit: "req/s",
      volumes: [20, 80, 120, 160, 320],
      at: (r) => ({ name: "", stable: stable0, canary: good(0.02), trafficRate: r }),
    },
    {
      name: "accuracy −10 points (0.95 → 0.85)",
      target: 0.95,
      unit: "eval rows",
      volumes: [50, 100, 200],
      at: evalDrop(0.1),
    },
    // Inside the example's 10-point margin a 3-point drop is allowed: measured at margin 0.02, where
    // identical answers need ≥ 133 rows to pass (minimumPairedRows), so smaller sets are not shown.
    {
      name: "accuracy −3 points (0.95 → 0.92), margin 0.02",
      target: 0.95,
      unit: "eval rows",
      volumes: [200, 400, 800, 1600, 3200],
      at: (rows) => ({
        ...evalDrop(0.03)(rows),
        tweak: (plan) => ({
          ...plan,
          gates: {
            ...plan.gates,
            ...(plan.gates.accuracy ? { accuracy: { ...plan.gates.accuracy, margin: 0.02 } } : {}),
          },
        }),
      }),
    },
    {
      name: "agreement 95% (gates.agreement.min 0.99)",
      target: 0.95,
      unit: "eval rows",
      volumes: [50, 100, 200, 400],
      at: (rows) => ({
        name: "",
        stable: stable0,
        canary: stable0,
        eval: { rows, stableAccuracy: 0.95, canary: { kind: "disagree", share: 0.05 } },
        trafficRate: 20,
        tweak: (plan) => ({
          ...plan,
          // Agreement alone: a wide accuracy margin, so only the agreement gate can catch it.
          gates: {
            ...plan.gates,
            ...(plan.gates.accuracy
              ? { accuracy: { ...plan.gates.accuracy, margin: 0.2, agreementMin: 0.99 } }
              : {}),
          },
        }),
      }),
    },
  ];
  const rows = [];
  for (const [i, ladder] of ladders.entries()) {
    if (only && !only.test(ladder.name)) continue;
    if (BUCKETS && !ladder.latency) continue;
    for (const volume of ladder.volumes) {
      const results = await runMany(ladder.at(volume), DETECT, 50_000_000 * (i + 1) + volume);
      const caught = results.filter((r) => r.reverted).length;
      const met = caught / DETECT >= ladder.target;
      rows.push([
        ladder.name,
        `${volume} ${ladder.unit}`,
        // The plan's canary requests at this rate: 20% of 10 s plus 50% of 10 s.
        ladder.unit === "req/s" ? Math.round(volume * 7) : "–",
        interval(caught, DETECT),
        `≥ ${pct(ladder.target)}`,
        met ? "met" : "no",
      ]);
      console.error(`  ${ladder.name} at ${volume}: ${caught}/${DETECT}`);
      if (met) break;
    }
  }
  console.log();
  console.log(
    textTable(["regression", "volume", "canary requests", "detected [95% CI]", "target", ""], rows),
  );

  // Early abort: a clear failure is reverted by a look during the step, whatever the step's length.
  const abort: [string, Scenario][] = [
    ["50% errors, 20 req/s", { name: "", stable: stable0, canary: good(0.5), trafficRate: 20 }],
    ["50% errors, 40 req/s", { name: "", stable: stable0, canary: good(0.5), trafficRate: 40 }],
    [
      "3× slower, 20 req/s",
      {
        name: "",
        stable: stable0,
        canary: { latency: lognormal(MEDIAN, SIGMA, 3), errorRate: 0 },
        trafficRate: 20,
      },
    ],
    [
      "3× slower, 40 req/s",
      {
        name: "",
        stable: stable0,
        canary: { latency: lognormal(MEDIAN, SIGMA, 3), errorRate: 0 },
        trafficRate: 40,
      },
    ],
    [
      "3× slower, log-sd 0.3, 20 req/s",
      {
        name: "",
        stable: { latency: lognormal(MEDIAN, 0.3), errorRate: 0 },
        canary: { latency: lognormal(MEDIAN, 0.3, 3), errorRate: 0 },
        trafficRate: 20,
      },
    ],
  ];
  const abortRows = [];
  for (const [i, [name, scenario]] of abort.entries()) {
    if (only && !only.test(name)) continue;
    if (BUCKETS && !name.includes("slower")) continue;
    const results = await runMany(scenario, DETECT, 90_000_000 + i * 100_000);
    const times = results.flatMap((r) => (r.timeToRevertS === undefined ? [] : [r.timeToRevertS]));
    const sorted = [...times].sort((a, b) => a - b);
    const q = (p: number) =>
      (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN).toFixed(1);
    abortRows.push([
      name,
      interval(results.filter((r) => r.reverted).length, DETECT),
      `${q(0.5)} s`,
      `${q(0.95)} s`,
      "10 s",
    ]);
  }
  console.log();
  console.log(
    textTable(["clear failure", "reverted", "time to revert p50", "p95", "step length"], abortRows),
  );
}

export async function run(): Promise<void> {
  const part = process.env.DECISIONS_PART;
  if (part !== "e2e") await simulation();
  if (part !== "sim") await runEndToEnd();
}
