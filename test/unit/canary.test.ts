import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvalRow } from "../../src/gates/accuracy.js";
import type { GateResult, GateStatus } from "../../src/gates/gates.js";
import { noErrors, type StepMetrics, type TrackMetrics } from "../../src/gates/metrics.js";
import { trafficGates } from "../../src/gates/traffic.js";
import { rolloutMarkdown, rolloutText } from "../../src/report/summary.js";
import { type CanaryPlan, decide, type StepPlan } from "../../src/rollout/advance.js";
import { type Clock, runCanary } from "../../src/rollout/canary.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type Ledger,
  type RevisionRecord,
  setCanaryWeight,
  startCanary,
} from "../../src/state/ledger.js";
import type { LedgerStore } from "../../src/state/store.js";
import {
  type Endpoint,
  type MetricsSource,
  type SyntheticTraffic,
  type Track,
  WorkloadFailure,
  type Workloads,
} from "../../src/targets/ports.js";

const gate = (status: GateStatus, name: GateResult["gate"] = "latency-p95"): GateResult => ({
  gate: name,
  status,
  observed: 1,
  threshold: 1,
  samples: 100,
  message: `${name} was ${status}`,
});

const win = (requests: number, errors: number, p95: number): TrackMetrics => ({
  requests,
  errors,
  errorsByClass: { ...noErrors(), server: errors },
  latencyMs: { p50: p95 / 2, p90: p95, p95, p99: p95, max: p95, count: requests },
});
const none = (): TrackMetrics => win(0, 0, 0);

describe("decide", () => {
  it("reverts on any failure, at any step, naming every failed gate", () => {
    const results = [gate("pass"), gate("fail", "error-rate"), gate("fail", "accuracy")];
    for (const last of [false, true]) {
      expect(decide(results, last)).toEqual({
        action: "revert",
        reason: "error-rate: error-rate was fail; accuracy: accuracy was fail",
      });
    }
  });

  it("reverts on a failure even beside an inconclusive gate", () => {
    expect(decide([gate("inconclusive"), gate("fail", "error-rate")], false).action).toBe("revert");
  });

  it("reverts on doubt at any step: extensions are advance's business, and once they are spent doubt reverts", () => {
    for (const last of [false, true]) {
      expect(decide([gate("pass"), gate("inconclusive", "error-rate")], last)).toEqual({
        action: "revert",
        reason: "inconclusive: error-rate: error-rate was inconclusive",
      });
    }
  });

  it("promotes when all pass at the last step and continues when they pass earlier", () => {
    expect(decide([gate("pass"), gate("pass", "error-rate")], true)).toEqual({
      action: "promote",
      reason: "all gates passed at every step",
    });
    expect(decide([gate("pass")], false).action).toBe("continue");
  });
});

describe("trafficGates", () => {
  const traffic = { stable: win(100, 0, 10), canary: win(100, 5, 250) };

  it("checks only the configured gates, on the canary's window", () => {
    expect(trafficGates({}, traffic)).toEqual([]);
    const latencyOnly = trafficGates({ latency: { p95Ms: 200 } }, traffic);
    expect(latencyOnly.map((g) => [g.gate, g.status, g.observed])).toEqual([["latency-p95", "fail", 250]]);
    const both = trafficGates({ latency: { p95Ms: 300 }, errorRate: { max: 0.01 } }, traffic);
    // No raw samples: the latency comparisons cannot run; the error comparisons can.
    expect(both.map((g) => [g.gate, g.status])).toEqual([
      ["latency-p95", "pass"],
      ["error-rate", "fail"],
      ["errors-vs-stable", "pass"],
      ["client-errors-vs-stable", "pass"],
    ]);
  });
});

const START = Date.parse("2024-05-01T12:00:00.000Z");

/**
 * The ports in memory: a ledger store, workloads that record every call, traffic that moves a fake
 * clock and serves the windows the test scripts for each step, and metrics measured over the
 * windows asked for (traffic is stamped with the time it was served).
 */
class InMemoryTarget {
  calls: string[] = [];
  weights: number[] = [];
  held: number[] = [];
  ledger: Ledger;
  failStartCanary?: Error;
  failRevert?: Error;
  /** The weight the workloads put in effect for a requested one (replica ratios round). */
  effective = (weight: number) => weight;
  private time = START;
  private weight = 0;
  private served: { at: number; stable: TrackMetrics; canary: TrackMetrics }[] = [];
  private script: TrackMetrics[] = [];

  constructor(
    ledger: Ledger,
    private readonly canaryUrl = "http://127.0.0.1:9",
  ) {
    this.ledger = ledger;
  }

  readonly clock: Clock = {
    now: () => new Date(this.time),
    sleep: async (ms) => {
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
    runStable: async () => {
      throw new Error("not used by the canary controller");
    },
    startCanary: async (revision: RevisionRecord) => {
      this.calls.push(`startCanary ${revision.id}`);
      if (this.failStartCanary) throw this.failStartCanary;
    },
    setCanaryWeight: async (weight: number) => {
      this.calls.push(`setCanaryWeight ${weight}`);
      this.weights.push(weight);
      this.weight = this.effective(weight);
      return this.weight;
    },
    canaryWeight: async () => this.weight,
    promote: async () => {
      this.calls.push("promote");
    },
    revert: async () => {
      this.calls.push("revert");
      this.weight = 0;
      if (this.failRevert) throw this.failRevert;
    },
  };

  readonly metrics: MetricsSource = {
    measure: async ({ start, end }): Promise<StepMetrics> => {
      const inWindow = this.served.filter((s) => s.at >= start.getTime() && s.at < end.getTime());
      const add = (a: TrackMetrics, b: TrackMetrics) =>
        win(a.requests + b.requests, a.errors + b.errors, Math.max(a.latencyMs.p95, b.latencyMs.p95));
      return {
        window: { start: start.toISOString(), end: end.toISOString() },
        stable: inWindow.reduce((sum, s) => add(sum, s.stable), none()),
        canary: inWindow.reduce((sum, s) => add(sum, s.canary), none()),
      };
    },
  };

  readonly traffic: SyntheticTraffic = {
    check: async () => {},
    generate: async (durationS: number) => {
      this.held.push(this.weight);
      this.time += durationS * 1000;
      // Served during the step, which ends where the next one begins.
      this.serve({ stable: win(100, 0, 20), canary: this.script.shift() ?? none() }, this.time - 1);
    },
  };

  async openEndpoint(track: Track): Promise<Endpoint> {
    this.calls.push(`openEndpoint ${track}`);
    return { url: this.canaryUrl, close: async () => void this.calls.push(`closeEndpoint ${track}`) };
  }

  /** The canary windows served during each step, in turn. */
  scripted(windows: TrackMetrics[]): this {
    this.script = [...windows];
    return this;
  }

  /** Traffic served now, before or between steps. */
  serve(traffic: { stable: TrackMetrics; canary: TrackMetrics }, atMs = this.time): void {
    this.served.push({ at: atMs, ...traffic });
  }

  get workloadCalls(): string[] {
    return this.calls.filter((c) => !c.includes("Endpoint"));
  }

  get lastReason(): string | undefined {
    return this.ledger.history.at(-1)?.reason;
  }
}

function setup(canaryUrl?: string) {
  let ledger = emptyLedger();
  ledger = addRevision(ledger, { name: "iris", path: "a.onnx", digest: "sha256:a" }, undefined, "t").ledger;
  const added = addRevision(ledger, { name: "iris", path: "b.onnx", digest: "sha256:b" }, undefined, "t");
  const target = new InMemoryTarget(deployStable(added.ledger, "r1", "t"), canaryUrl);
  return { target, revision: added.revision };
}

const steps: StepPlan[] = [
  { weight: 10, durationS: 30 },
  { weight: 50, durationS: 30 },
  { weight: 100, durationS: 30 },
];

// One look per step at its end and no extension: each step is one scripted window. Looks during
// steps and extensions are covered in advance.test.ts.
const plan = (gates: CanaryPlan["gates"], planSteps = steps): CanaryPlan => ({
  modelName: "iris",
  steps: planSteps,
  gates,
  sequential: { alpha: 0.01, lookIntervalS: 0, maxExtensions: 0 },
});

const deps = (target: InMemoryTarget) => ({ target, clock: target.clock });

describe("runCanary with in-memory ports", () => {
  const trafficOnly = { latency: { p95Ms: 100 }, errorRate: { max: 0.01 } };

  it("promotes after every step passes, setting weights in order and promoting once", async () => {
    const { target, revision } = setup();
    target.scripted([win(50, 0, 40), win(200, 1, 60), win(400, 2, 80)]);
    const report = await runCanary(revision, plan(trafficOnly), deps(target));

    expect(report.outcome).toBe("promoted");
    expect(report.reason).toBe("all gates passed at every step");
    expect(report).toMatchObject({ revision: "r2", stable: "r1" });
    expect(target.weights).toEqual([10, 50, 100]);
    expect(target.held).toEqual([10, 50, 100]);
    expect(target.calls.filter((c) => c === "promote")).toHaveLength(1);
    expect(target.calls).not.toContain("revert");
    const passes = ["pass", "pass", "pass", "pass"];
    expect(report.steps.map((s) => [s.weight, s.canary.requests, s.gates.map((g) => g.status)])).toEqual([
      [10, 50, passes],
      [50, 200, passes],
      [100, 400, passes],
    ]);
    // The ledger recorded the promotion with its reason and no canary is left.
    expect(target.ledger.stable).toBe("r2");
    expect(target.ledger.canary).toBeUndefined();
    expect(target.ledger.history.at(-1)).toMatchObject({
      action: "promote",
      reason: "all gates passed at every step",
    });
  });

  it("reverts at step 1 on a latency failure, runs no further step and says which gate and figure", async () => {
    const { target, revision } = setup();
    target.scripted([win(100, 0, 250), win(100, 0, 10), win(100, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), deps(target));

    expect(report.outcome).toBe("reverted");
    expect(report.reason).toBe("latency-p95: canary p95 250 ms > 100 ms");
    expect(target.held).toEqual([10]);
    expect(target.weights).toEqual([10]);
    expect(target.workloadCalls).toEqual(["startCanary r2", "setCanaryWeight 10", "revert"]);
    expect(target.lastReason).toBe("latency-p95: canary p95 250 ms > 100 ms");
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]?.gates.find((g) => g.gate === "latency-p95")).toMatchObject({
      status: "fail",
      observed: 250,
      threshold: 100,
    });
  });

  it("reverts at the first step whose traffic stayed too thin to judge, once its extensions are spent", async () => {
    const { target, revision } = setup();
    target.scripted([win(5, 0, 10), win(5, 0, 10), win(5, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), deps(target));

    expect(target.held).toEqual([10]);
    expect(report.outcome).toBe("reverted");
    expect(report.reason).toMatch(/^inconclusive at step 1: latency-p95: only 5 successful canary requests/);
    expect(target.calls).not.toContain("promote");
  });

  it("gates each step only on the traffic served during that step", async () => {
    const { target, revision } = setup();
    // Traffic served before the first step (e.g. warm-up errors) must not count against it.
    target.serve({ stable: none(), canary: win(100, 100, 5000) }, START - 1);
    target.scripted([win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), deps(target));
    expect(report.outcome).toBe("promoted");
  });

  it("reverts a plan without steps instead of promoting it", async () => {
    const { target, revision } = setup();
    const report = await runCanary(revision, plan(trafficOnly, []), deps(target));
    expect(report).toMatchObject({ outcome: "reverted", reason: "the plan has no steps" });
    expect(target.workloadCalls).toEqual(["startCanary r2", "revert"]);
    expect(target.lastReason).toBe("the plan has no steps");
  });

  it("reverts, then rethrows, when holding a step fails", async () => {
    const { target, revision } = setup();
    target.traffic.generate = async () => {
      throw new Error("load generator crashed");
    };
    await expect(runCanary(revision, plan(trafficOnly), deps(target))).rejects.toThrow(
      "load generator crashed",
    );
    expect(target.workloadCalls).toEqual(["startCanary r2", "setCanaryWeight 10", "revert"]);
    expect(target.lastReason).toBe("error during the rollout: load generator crashed");
    expect(target.ledger.canary).toBeUndefined();
  });

  it("rethrows the original error even when the revert itself fails", async () => {
    const { target, revision } = setup();
    target.failRevert = new Error("revert failed too");
    target.traffic.generate = async () => {
      throw new Error("load generator crashed");
    };
    await expect(runCanary(revision, plan(trafficOnly), deps(target))).rejects.toThrow(
      "load generator crashed",
    );
    expect(target.calls.at(-1)).toBe("revert");
  });

  it("a canary the cluster cannot run is reverted as the rollout's outcome, with what the cluster said", async () => {
    const { target, revision } = setup();
    target.failStartCanary = new WorkloadFailure(
      "canary r2 failed to roll out: pod p: container model ImagePullBackOff",
      ["p/model: waiting: ImagePullBackOff, 0 restarts", "p: Warning Failed: Failed to pull image"],
    );
    const report = await runCanary(revision, plan({ latency: { p95Ms: 100 } }), deps(target));
    expect(report).toMatchObject({
      outcome: "reverted",
      reason: "canary failed to start: canary r2 failed to roll out: pod p: container model ImagePullBackOff",
      diagnostics: [
        "p/model: waiting: ImagePullBackOff, 0 restarts",
        "p: Warning Failed: Failed to pull image",
      ],
    });
    expect(target.ledger.canary).toBeUndefined();
    expect(target.lastReason).toMatch(/^canary failed to start: .*ImagePullBackOff/);
    expect(rolloutMarkdown(report)).toContain("What the target reported:");
    expect(rolloutText(report)).toContain("Warning Failed: Failed to pull image");
  });

  it("records a canary that fails to start as reverted, without promoting", async () => {
    const { target, revision } = setup();
    target.failStartCanary = new Error("port in use");
    await expect(runCanary(revision, plan(trafficOnly), deps(target))).rejects.toThrow("port in use");
    expect(target.held).toEqual([]);
    expect(target.weights).toEqual([]);
    expect(target.calls).not.toContain("promote");
    expect(target.ledger.canary).toBeUndefined();
    expect(target.ledger.history.at(-1)).toMatchObject({ action: "revert", revision: "r2" });
    expect(target.lastReason).toBe("canary failed to start: port in use");
  });

  it("records each step's start, weight and measurements in the ledger as it goes", async () => {
    const { target, revision } = setup();
    target.scripted([win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
    const seen: Ledger[] = [];
    const update = target.state.update;
    target.state.update = async (change) => {
      const next = await update(change);
      seen.push(next);
      return next;
    };
    await runCanary(revision, plan(trafficOnly), { ...deps(target), owner: { pid: 7, host: "runner" } });
    const atStep2 = seen.find((l) => l.canary?.progress?.step === 1);
    expect(atStep2?.canary).toMatchObject({
      revision: "r2",
      weight: 50,
      owner: { pid: 7, host: "runner" },
      progress: { step: 1, stepStartedAt: new Date(START + 30_000).toISOString() },
    });
    expect(atStep2?.canary?.progress?.steps.map((s) => s.weight)).toEqual([10]);
  });

  it("records the weight in effect when the workloads cannot give the one asked for", async () => {
    const { target, revision } = setup();
    target.effective = (weight) => Math.round(weight / 33) * 33; // 3 replicas: 0, 33, 66, 99
    target.scripted([win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), deps(target));
    expect(report.steps.map((s) => s.weight)).toEqual([0, 66, 99]);
    const recorded = target.ledger.history.filter((h) => h.action === "weight").map((h) => h.weight);
    expect(recorded).toEqual([0, 66, 99]);
  });

  describe("resume", () => {
    /** A ledger as a run that died at step 2 left it: step 1 measured, step 2 started. */
    function leftover(target: InMemoryTarget) {
      let ledger = startCanary(target.ledger, "r2", "2024-05-01T11:00:00.000Z", { pid: 1, host: "gone" });
      ledger = setCanaryWeight(ledger, 10, "2024-05-01T11:00:00.000Z", 0);
      const record = {
        weight: 10,
        durationS: 30,
        stable: win(900, 0, 20),
        canary: win(100, 0, 10),
        gates: [gate("pass"), gate("pass", "error-rate")],
      };
      ledger = {
        ...ledger,
        canary: ledger.canary && {
          ...ledger.canary,
          progress: { step: 0, stepStartedAt: "2024-05-01T11:00:00.000Z", steps: [record] },
        },
      };
      ledger = setCanaryWeight(ledger, 50, "2024-05-01T11:00:30.000Z", 1);
      target.ledger = ledger;
    }

    it("continues from the recorded step with its weight, keeps the earlier evidence, and promotes", async () => {
      const { target, revision } = setup();
      leftover(target);
      target.scripted([win(200, 0, 10), win(400, 0, 10)]);
      const report = await runCanary(revision, plan(trafficOnly), deps(target), { resume: true });

      expect(report).toMatchObject({ outcome: "promoted", resumed: true });
      expect(target.workloadCalls).toEqual([
        "startCanary r2",
        "setCanaryWeight 50",
        "setCanaryWeight 100",
        "promote",
      ]);
      // Step 2 restarted when this run resumed it, and ran its whole duration.
      expect(target.held).toEqual([50, 100]);
      expect(report.steps.map((s) => [s.weight, s.canary.requests])).toEqual([
        [10, 100],
        [50, 200],
        [100, 400],
      ]);
      expect(target.ledger.history.map((h) => h.action)).toContain("resume");
    });

    it("refuses to resume another revision's canary, and leaves it for a revert", async () => {
      const { target } = setup();
      leftover(target);
      target.ledger = addRevision(
        target.ledger,
        { name: "iris", path: "c.onnx", digest: "sha256:c" },
        undefined,
        "t",
      ).ledger;
      const r3 = target.ledger.revisions[2] as RevisionRecord;
      await expect(runCanary(r3, plan(trafficOnly), deps(target), { resume: true })).rejects.toThrow(
        "--resume: the unfinished canary is r2, but this run deploys r3; run without --resume to revert it first",
      );
      expect(target.calls).toEqual([]);
      expect(target.ledger.canary?.revision).toBe("r2");
    });
  });

  describe("accuracy against a real model server", () => {
    let server: Server;
    let url: string;

    beforeAll(async () => {
      // An OIP server that predicts the class sent as the first input value, or 0 for "wrong".
      server = createServer((req, res) => {
        let text = "";
        req.on("data", (chunk) => {
          text += chunk;
        });
        req.on("end", () => {
          const value = (JSON.parse(text) as { inputs: { data: unknown[] }[] }).inputs[0]?.data[0];
          const label = value === "wrong" ? 0 : value;
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ outputs: [{ name: "label", shape: [1], data: [label] }] }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    const rows = (right: number, wrong: number): EvalRow[] => [
      ...Array.from({ length: right }, () => ({ body: { inputs: [{ name: "x", data: [1] }] }, label: 1 })),
      ...Array.from({ length: wrong }, () => ({
        body: { inputs: [{ name: "x", data: ["wrong"] }] },
        label: 1,
      })),
    ];

    it("reverts before any traffic reaches a canary that fails the accuracy gate", async () => {
      const { target, revision } = setup(url);
      const gates = { ...trafficOnly, accuracy: { rows: rows(14, 6), min: 0.9, output: "label" } };
      const report = await runCanary(revision, plan(gates), deps(target));

      expect(report.outcome).toBe("reverted");
      expect(report.reason).toMatch(/^accuracy: canary accuracy 0.7 \(14\/20, 95% CI 0.457…0.881\) < 0.9/);
      expect(target.weights.filter((w) => w > 0)).toEqual([]);
      expect(target.held).toEqual([]);
      // The eval set goes to both tracks' own servers: the stable's answers pair with the canary's.
      expect(target.calls).toEqual([
        "startCanary r2",
        "openEndpoint canary",
        "closeEndpoint canary",
        "openEndpoint stable",
        "closeEndpoint stable",
        "revert",
      ]);
      expect(target.lastReason).toBe(report.reason);
      expect(report.steps).toHaveLength(1);
      expect(report.steps[0]).toMatchObject({ weight: 0, gates: [{ gate: "accuracy", status: "fail" }] });
    });

    it("carries a passing accuracy result into every step and promotes", async () => {
      const { target, revision } = setup(url);
      target.scripted([win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
      // 20 rows can show non-inferiority of identical answers at a 20-point margin, not at 5.
      const gates = {
        ...trafficOnly,
        accuracy: { rows: rows(19, 1), min: 0.9, margin: 0.2, output: "label" },
      };
      const report = await runCanary(revision, plan(gates), deps(target));

      expect(report.outcome).toBe("promoted");
      for (const step of report.steps) {
        expect(step.gates.map((g) => g.gate).slice(0, 3)).toEqual(["accuracy", "latency-p95", "error-rate"]);
        expect(step.gates[0]).toMatchObject({ status: "pass", observed: 0.95 });
        expect(step.gates[0]?.parts?.map((p) => [p.gate, p.status])).toEqual([
          ["accuracy-min", "pass"],
          ["accuracy-vs-stable", "pass"],
          ["agreement", "pass"],
        ]);
      }
    });

    it("never promotes on an eval set too small to judge", async () => {
      const { target, revision } = setup(url);
      target.scripted([win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
      const gates = { ...trafficOnly, accuracy: { rows: rows(3, 0), min: 0.9, output: "label" } };
      const report = await runCanary(revision, plan(gates), deps(target));

      // A fixed eval set gives the same doubt on every look: it reverts before any traffic.
      expect(target.held).toEqual([]);
      expect(report.outcome).toBe("reverted");
      expect(report.reason).toMatch(/^inconclusive accuracy: only 3 eval rows \(need 10\)/);
    });
  });
});
