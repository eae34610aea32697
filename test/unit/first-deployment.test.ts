// The first deployment is gated too: its own accuracy minimum, then its latency and error limits
// on one window of traffic; a failure removes it before the ledger ever calls it stable.
import { describe, expect, it } from "vitest";
import type { EvalAnswers } from "../../src/gates/accuracy.js";
import { emptyTrack, noErrors, type TrackMetrics } from "../../src/gates/metrics.js";
import type { CanaryPlan } from "../../src/rollout/advance.js";
import { runFirstDeployment } from "../../src/rollout/first.js";
import { addRevision, emptyLedger, type Ledger } from "../../src/state/ledger.js";

function target(served: TrackMetrics, withRemove = true) {
  const added = addRevision(emptyLedger(), { name: "m", path: "a", digest: "sha256:a" }, undefined, "t");
  const calls: string[] = [];
  let ledger: Ledger = added.ledger;
  let time = 0;
  const workloads = {
    runStable: async () => void calls.push("runStable"),
    startCanary: async () => {},
    setCanaryWeight: async (w: number) => w,
    canaryWeight: async () => 0,
    promote: async () => {},
    revert: async () => {},
    ...(withRemove ? { removeStable: async () => void calls.push("removeStable") } : {}),
  };
  return {
    calls,
    revision: added.revision,
    ledger: () => ledger,
    deps: {
      target: {
        workloads,
        metrics: {
          measure: async () => ({ window: { start: "", end: "" }, stable: served, canary: emptyTrack() }),
        },
        state: {
          location: "memory",
          read: async () => ledger,
          update: async (change: (l: Ledger) => Ledger) => {
            ledger = change(ledger);
            return ledger;
          },
          lock: async () => async () => {},
        },
        openEndpoint: async () => ({ url: "http://stable", close: async () => {} }),
      },
      now: () => new Date(time),
      sleep: async (ms: number) => {
        time += ms;
      },
      collectAnswers: async (): Promise<EvalAnswers> => ({
        values: labels.map((l, i) => (i < right ? l : 9)),
        failures: labels.map(() => ""),
      }),
    },
  };
}
const labels = Array.from({ length: 50 }, (_, i) => i % 3);
let right = 44;
const fast = (n: number, errors = 0): TrackMetrics => ({
  requests: n,
  errors,
  errorsByClass: { ...noErrors(), server: errors },
  latencyMs: { p50: 1, p90: 1, p95: 1, p99: 1, max: 1, count: n },
  samplesMs: Array(n - errors).fill(1),
});
const plan: CanaryPlan = {
  modelName: "m",
  steps: [{ weight: 20, durationS: 5 }],
  gates: {
    latency: { p95Ms: 250 },
    errorRate: { max: 0.01 },
    accuracy: { rows: labels.map((label) => ({ body: {}, label })), output: "label", min: 0.85 },
  },
};

describe("runFirstDeployment", () => {
  it("records the revision as stable once its absolute gates pass", async () => {
    right = 44;
    const t = target(fast(100));
    const report = await runFirstDeployment(t.revision, plan, t.deps);
    expect(report).toMatchObject({
      outcome: "deployed",
      reason: "first deployment; its absolute gates passed",
      unchecked: [],
    });
    expect(report.gates.map((g) => [g.gate, g.status])).toEqual([
      ["accuracy", "pass"],
      ["latency-p95", "pass"],
      ["error-rate", "pass"],
    ]);
    expect(t.ledger().stable).toBe("r1");
  });

  it("removes a revision below its own accuracy minimum before it is ever stable", async () => {
    right = 40;
    const t = target(fast(100));
    const report = await runFirstDeployment(t.revision, plan, t.deps);
    expect(report.outcome).toBe("reverted");
    expect(report.reason).toMatch(/^accuracy: canary accuracy 0.8 \(40\/50/);
    expect(t.calls).toEqual(["runStable", "removeStable"]);
    expect(t.ledger().stable).toBeUndefined();
  });

  it("removes one that fails clearly under traffic", async () => {
    right = 50;
    const t = target(fast(100, 30));
    const report = await runFirstDeployment(t.revision, plan, t.deps);
    expect(report).toMatchObject({
      outcome: "reverted",
      reason: expect.stringMatching(/^error-rate: canary error rate 0.3/),
    });
    expect(t.ledger().stable).toBeUndefined();
  });

  it("says plainly what went out unchecked when no traffic came, and says when the target cannot remove it", async () => {
    right = 50;
    const quiet = target(emptyTrack());
    const report = await runFirstDeployment(quiet.revision, plan, quiet.deps);
    expect(report.outcome).toBe("deployed");
    expect(report.reason).toMatch(
      /^first deployment; went out partly unchecked \(latency-p95: only 0 successful/,
    );
    expect(quiet.ledger().stable).toBe("r1");

    right = 10;
    const stuck = target(fast(100), false);
    const rejected = await runFirstDeployment(stuck.revision, plan, stuck.deps);
    expect(rejected.reason).toMatch(
      /this target cannot remove a first deployment: it keeps running, not recorded as stable/,
    );
    expect(stuck.ledger().stable).toBeUndefined();
  });
});
