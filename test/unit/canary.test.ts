import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvalRow } from "../../src/gates/accuracy.js";
import type { GateResult, GateStatus } from "../../src/gates/gates.js";
import { type CanaryPlan, decide, runCanary, type StepPlan, trafficGates } from "../../src/rollout/canary.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  type Ledger,
  type RevisionRecord,
} from "../../src/rollout/ledger.js";
import type { RouterStats, Target, TrafficWindow } from "../../src/targets/target.js";

const gate = (status: GateStatus, name: GateResult["gate"] = "latency-p95"): GateResult => ({
  gate: name,
  status,
  observed: 1,
  threshold: 1,
  samples: 100,
  message: `${name} was ${status}`,
});

const win = (requests: number, errors: number, p95: number): TrafficWindow => ({
  requests,
  errors,
  latencyMs: { p50: p95 / 2, p90: p95, p95, p99: p95, max: p95, count: requests },
});
const none = (): TrafficWindow => win(0, 0, 0);

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

  it("carries on past doubt at an intermediate step", () => {
    expect(decide([gate("inconclusive"), gate("pass", "error-rate")], false)).toEqual({
      action: "continue",
      reason: "",
    });
  });

  it("reverts on doubt at the last step", () => {
    expect(decide([gate("pass"), gate("inconclusive", "error-rate")], true)).toEqual({
      action: "revert",
      reason: "inconclusive at the last step: error-rate: error-rate was inconclusive",
    });
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
  const traffic: RouterStats = { stable: win(100, 0, 10), canary: win(100, 5, 250) };

  it("checks only the configured gates, on the canary's window", () => {
    expect(trafficGates({}, traffic)).toEqual([]);
    const latencyOnly = trafficGates({ latency: { p95Ms: 200 } }, traffic);
    expect(latencyOnly.map((g) => [g.gate, g.status, g.observed])).toEqual([["latency-p95", "fail", 250]]);
    const both = trafficGates({ latency: { p95Ms: 300 }, errorRate: { max: 0.01 } }, traffic);
    expect(both.map((g) => [g.gate, g.status])).toEqual([
      ["latency-p95", "pass"],
      ["error-rate", "fail"],
    ]);
  });
});

/**
 * An in-memory target: keeps the ledger in memory, records every call, and serves the traffic the
 * test scripts for each step (holdStep adds a step's windows; takeTraffic returns and clears them).
 */
class InMemoryTarget implements Target {
  readonly kind = "memory";
  readonly trafficUrl = "http://memory.invalid";
  calls: string[] = [];
  weights: number[] = [];
  ledger: Ledger;
  private pending: RouterStats = { stable: none(), canary: none() };
  failStartCanary?: Error;

  constructor(
    ledger: Ledger,
    private readonly canaryUrl = "http://127.0.0.1:9",
  ) {
    this.ledger = ledger;
  }

  /** Adds served traffic to the window since the last takeTraffic (p95 taken as the worse of the two). */
  serve(traffic: RouterStats): void {
    const add = (a: TrafficWindow, b: TrafficWindow) =>
      win(a.requests + b.requests, a.errors + b.errors, Math.max(a.latencyMs.p95, b.latencyMs.p95));
    this.pending = {
      stable: add(this.pending.stable, traffic.stable),
      canary: add(this.pending.canary, traffic.canary),
    };
  }

  async readLedger(): Promise<Ledger> {
    return this.ledger;
  }
  async register(): Promise<RevisionRecord> {
    throw new Error("not used by the canary controller");
  }
  async deployStable(): Promise<void> {
    throw new Error("not used by the canary controller");
  }
  async startCanary(revision: RevisionRecord): Promise<string> {
    this.calls.push(`startCanary ${revision.id}`);
    if (this.failStartCanary) throw this.failStartCanary;
    return this.canaryUrl;
  }
  async setCanaryWeight(weight: number): Promise<void> {
    this.calls.push(`setCanaryWeight ${weight}`);
    this.weights.push(weight);
  }
  async takeTraffic(): Promise<RouterStats> {
    const traffic = this.pending;
    this.pending = { stable: none(), canary: none() };
    return traffic;
  }
  async promote(reason: string): Promise<void> {
    this.calls.push(`promote ${reason}`);
  }
  async revert(reason: string): Promise<void> {
    this.calls.push(`revert ${reason}`);
  }
  async close(): Promise<void> {}
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

const plan = (gates: CanaryPlan["gates"], planSteps = steps): CanaryPlan => ({
  modelName: "iris",
  steps: planSteps,
  gates,
});

/** holdStep that lets the target serve the scripted canary window for each step in turn. */
function scripted(target: InMemoryTarget, canaryWindows: TrafficWindow[]) {
  const held: number[] = [];
  const holdStep = async (step: StepPlan) => {
    held.push(step.weight);
    const canary = canaryWindows[held.length - 1] ?? none();
    target.serve({ stable: win(100, 0, 20), canary });
  };
  return { held, holdStep };
}

describe("runCanary with an in-memory target", () => {
  const trafficOnly = { latency: { p95Ms: 100 }, errorRate: { max: 0.01 } };

  it("promotes after every step passes, setting weights in order and promoting once", async () => {
    const { target, revision } = setup();
    const { held, holdStep } = scripted(target, [win(50, 0, 40), win(200, 1, 60), win(400, 2, 80)]);
    const report = await runCanary(revision, plan(trafficOnly), { target, holdStep });

    expect(report.outcome).toBe("promoted");
    expect(report.reason).toBe("all gates passed at every step");
    expect(report).toMatchObject({ revision: "r2", stable: "r1" });
    expect(target.weights).toEqual([10, 50, 100]);
    expect(held).toEqual([10, 50, 100]);
    expect(target.calls.filter((c) => c.startsWith("promote"))).toEqual([
      "promote all gates passed at every step",
    ]);
    expect(target.calls.some((c) => c.startsWith("revert"))).toBe(false);
    expect(report.steps.map((s) => [s.weight, s.canary.requests, s.gates.map((g) => g.status)])).toEqual([
      [10, 50, ["pass", "pass"]],
      [50, 200, ["pass", "pass"]],
      [100, 400, ["pass", "pass"]],
    ]);
  });

  it("reverts at step 1 on a latency failure, runs no further step and says which gate and figure", async () => {
    const { target, revision } = setup();
    const { held, holdStep } = scripted(target, [win(100, 0, 250), win(100, 0, 10), win(100, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), { target, holdStep });

    expect(report.outcome).toBe("reverted");
    expect(report.reason).toBe("latency-p95: canary p95 250 ms > 100 ms");
    expect(held).toEqual([10]);
    expect(target.weights).toEqual([10]);
    expect(target.calls).toEqual([
      "startCanary r2",
      "setCanaryWeight 10",
      "revert latency-p95: canary p95 250 ms > 100 ms",
    ]);
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]?.gates.find((g) => g.gate === "latency-p95")).toMatchObject({
      status: "fail",
      observed: 250,
      threshold: 100,
    });
  });

  it("reverts at the last step when traffic stayed too thin to judge", async () => {
    const { target, revision } = setup();
    const { held, holdStep } = scripted(target, [win(5, 0, 10), win(5, 0, 10), win(5, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), { target, holdStep });

    expect(held).toEqual([10, 50, 100]);
    expect(report.outcome).toBe("reverted");
    expect(report.reason).toMatch(/^inconclusive at the last step: latency-p95: only 5 samples/);
    expect(target.calls.some((c) => c.startsWith("promote"))).toBe(false);
  });

  it("gates each step only on the traffic served during that step", async () => {
    const { target, revision } = setup();
    // Traffic served before the first step (e.g. warm-up errors) must not count against it.
    target.serve({ stable: none(), canary: win(100, 100, 5000) });
    const { holdStep } = scripted(target, [win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
    const report = await runCanary(revision, plan(trafficOnly), { target, holdStep });
    expect(report.outcome).toBe("promoted");
  });

  it("reverts a plan without steps instead of promoting it", async () => {
    const { target, revision } = setup();
    const { holdStep } = scripted(target, []);
    const report = await runCanary(revision, plan(trafficOnly, []), { target, holdStep });
    expect(report).toMatchObject({ outcome: "reverted", reason: "the plan has no steps" });
    expect(target.calls).toEqual(["startCanary r2", "revert the plan has no steps"]);
  });

  it("reverts, then rethrows, when holding a step fails", async () => {
    const { target, revision } = setup();
    const holdStep = async () => {
      throw new Error("load generator crashed");
    };
    await expect(runCanary(revision, plan(trafficOnly), { target, holdStep })).rejects.toThrow(
      "load generator crashed",
    );
    expect(target.calls).toEqual([
      "startCanary r2",
      "setCanaryWeight 10",
      "revert error during the rollout: load generator crashed",
    ]);
  });

  it("rethrows the original error even when the revert itself fails", async () => {
    const { target, revision } = setup();
    target.revert = async (reason: string) => {
      target.calls.push(`revert ${reason}`);
      throw new Error("revert failed too");
    };
    const holdStep = async () => {
      throw new Error("load generator crashed");
    };
    await expect(runCanary(revision, plan(trafficOnly), { target, holdStep })).rejects.toThrow(
      "load generator crashed",
    );
    expect(target.calls.at(-1)).toBe("revert error during the rollout: load generator crashed");
  });

  it("lets an error from startCanary propagate without promoting", async () => {
    const { target, revision } = setup();
    target.failStartCanary = new Error("port in use");
    const { held, holdStep } = scripted(target, []);
    await expect(runCanary(revision, plan(trafficOnly), { target, holdStep })).rejects.toThrow("port in use");
    expect(held).toEqual([]);
    expect(target.weights).toEqual([]);
    expect(target.calls.some((c) => c.startsWith("promote"))).toBe(false);
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
      const { held, holdStep } = scripted(target, []);
      const gates = { ...trafficOnly, accuracy: { rows: rows(14, 6), min: 0.9, output: "label" } };
      const report = await runCanary(revision, plan(gates), { target, holdStep });

      expect(report.outcome).toBe("reverted");
      expect(report.reason).toBe("accuracy: canary accuracy 0.7 (14/20) < 0.9");
      expect(target.weights.filter((w) => w > 0)).toEqual([]);
      expect(held).toEqual([]);
      expect(target.calls).toEqual(["startCanary r2", "revert accuracy: canary accuracy 0.7 (14/20) < 0.9"]);
      expect(report.steps).toHaveLength(1);
      expect(report.steps[0]).toMatchObject({ weight: 0, gates: [{ gate: "accuracy", status: "fail" }] });
    });

    it("carries a passing accuracy result into every step and promotes", async () => {
      const { target, revision } = setup(url);
      const { holdStep } = scripted(target, [win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
      const gates = { ...trafficOnly, accuracy: { rows: rows(19, 1), min: 0.9, output: "label" } };
      const report = await runCanary(revision, plan(gates), { target, holdStep });

      expect(report.outcome).toBe("promoted");
      for (const step of report.steps) {
        expect(step.gates.map((g) => g.gate)).toEqual(["accuracy", "latency-p95", "error-rate"]);
        expect(step.gates[0]).toMatchObject({ status: "pass", observed: 0.95 });
      }
    });

    it("never promotes on an eval set too small to judge", async () => {
      const { target, revision } = setup(url);
      const { held, holdStep } = scripted(target, [win(100, 0, 10), win(100, 0, 10), win(100, 0, 10)]);
      const gates = { ...trafficOnly, accuracy: { rows: rows(3, 0), min: 0.9, output: "label" } };
      const report = await runCanary(revision, plan(gates), { target, holdStep });

      expect(held).toEqual([10, 50, 100]);
      expect(report.outcome).toBe("reverted");
      expect(report.reason).toMatch(/^inconclusive at the last step: accuracy: only 3 samples/);
    });
  });
});
