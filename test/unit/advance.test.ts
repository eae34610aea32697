import { describe, expect, it } from "vitest";
import type { GateResult } from "../../src/gates/gates.js";
import { noErrors, type StepMetrics, type TrackMetrics } from "../../src/gates/metrics.js";
import { advance, type CanaryPlan, type RolloutState } from "../../src/rollout/advance.js";

const T0 = "2024-05-01T12:00:00.000Z";
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000);

const track = (requests: number, errors: number, p95: number): TrackMetrics => ({
  requests,
  errors,
  errorsByClass: { ...noErrors(), server: errors },
  latencyMs: { p50: p95 / 2, p90: p95, p95, p99: p95, max: p95, count: requests },
});
const metrics = (canary: TrackMetrics): StepMetrics => ({
  window: { start: T0, end: at(10).toISOString() },
  stable: track(100, 0, 10),
  canary,
});

const accuracyGate = (status: "pass" | "fail"): GateResult => ({
  gate: "accuracy",
  status,
  observed: status === "pass" ? 0.95 : 0.5,
  threshold: 0.9,
  samples: 50,
  message: `canary accuracy ${status}`,
});

// One look at each step's end, no extension (the looks during steps have their own tests below).
const plan = (withAccuracy = false, steps = [10, 50]): CanaryPlan => ({
  modelName: "iris",
  steps: steps.map((weight) => ({ weight, durationS: 10 })),
  sequential: { alpha: 0.01, lookIntervalS: 0, maxExtensions: 0 },
  gates: {
    latency: { p95Ms: 100 },
    errorRate: { max: 0.05 },
    ...(withAccuracy ? { accuracy: { rows: [], min: 0.9, output: "label" } } : {}),
  },
});

const state = (
  step: number,
  weight: number,
  extra: Partial<RolloutState["progress"]> = {},
): RolloutState => ({
  weight,
  progress: { step, stepStartedAt: T0, steps: [], ...extra },
});

describe("advance: before any traffic", () => {
  it("asks for the accuracy check first when the plan has an eval set", () => {
    expect(advance(plan(true), state(-1, 0), undefined, at(0))).toEqual({ kind: "check-accuracy" });
  });

  it("reverts on a failed accuracy check with a weight-0 step as evidence", () => {
    const decision = advance(
      plan(true),
      state(-1, 0),
      { kind: "accuracy", gate: accuracyGate("fail") },
      at(1),
    );
    expect(decision).toMatchObject({
      kind: "revert",
      reason: "accuracy: canary accuracy fail",
      accuracy: { status: "fail" },
      record: { weight: 0, durationS: 0, gates: [{ gate: "accuracy", status: "fail" }] },
    });
  });

  it("starts the first step after a passing accuracy check, carrying the verdict to record", () => {
    const decision = advance(
      plan(true),
      state(-1, 0),
      { kind: "accuracy", gate: accuracyGate("pass") },
      at(1),
    );
    expect(decision).toEqual({ kind: "start-step", step: 0, weight: 10, accuracy: accuracyGate("pass") });
  });

  it("starts the first step at once without an accuracy gate, or once accuracy is recorded", () => {
    expect(advance(plan(), state(-1, 0), undefined, at(0))).toEqual({
      kind: "start-step",
      step: 0,
      weight: 10,
    });
    const recorded = state(-1, 0, { accuracy: accuracyGate("pass") });
    expect(advance(plan(true), recorded, undefined, at(0))).toEqual({
      kind: "start-step",
      step: 0,
      weight: 10,
    });
  });

  it("reverts a plan without steps", () => {
    expect(advance(plan(false, []), state(-1, 0), undefined, at(0))).toEqual({
      kind: "revert",
      reason: "the plan has no steps",
    });
  });
});

describe("advance: during a step", () => {
  it("holds until the step's duration has passed since it started", () => {
    expect(advance(plan(), state(0, 10), undefined, at(3))).toEqual({ kind: "hold", until: at(10) });
  });

  it("asks to measure the step's window once it is over", () => {
    expect(advance(plan(), state(0, 10), undefined, at(10.5))).toEqual({
      kind: "measure",
      window: { start: at(0), end: at(10.5) },
      look: "final",
    });
  });

  it("moves to the next step when the gates pass, recording the step at the weight in effect", () => {
    const decision = advance(
      plan(),
      state(0, 9),
      { kind: "metrics", metrics: metrics(track(50, 0, 20)) },
      at(11),
    );
    expect(decision).toMatchObject({ kind: "start-step", step: 1, weight: 50 });
    if (decision.kind !== "start-step") return;
    expect(decision.record).toMatchObject({ weight: 9, durationS: 11, canary: { requests: 50 } });
    expect(decision.record?.gates.map((g) => [g.gate, g.status])).toEqual([
      ["latency-p95", "pass"],
      ["error-rate", "pass"],
      ["errors-vs-stable", "pass"],
      ["client-errors-vs-stable", "pass"],
    ]);
    // Reports keep figures, not raw samples or error classes.
    expect(Object.keys(decision.record?.canary ?? {}).sort()).toEqual(["errors", "latencyMs", "requests"]);
  });

  it("promotes after the last step passes", () => {
    const decision = advance(
      plan(),
      state(1, 50),
      { kind: "metrics", metrics: metrics(track(50, 0, 20)) },
      at(11),
    );
    expect(decision).toMatchObject({ kind: "promote", reason: "all gates passed at every step" });
  });

  it("reverts on a failed gate with the figure that decided it", () => {
    const decision = advance(
      plan(),
      state(0, 10),
      { kind: "metrics", metrics: metrics(track(50, 0, 300)) },
      at(11),
    );
    expect(decision).toMatchObject({ kind: "revert", reason: "latency-p95: canary p95 300 ms > 100 ms" });
  });

  it("judges every step with the accuracy verdict recorded before traffic", () => {
    const s = state(0, 10, { accuracy: accuracyGate("pass") });
    const decision = advance(plan(true), s, { kind: "metrics", metrics: metrics(track(50, 0, 20)) }, at(11));
    if (decision.kind !== "start-step") throw new Error(`expected start-step, got ${decision.kind}`);
    expect(decision.record?.gates.map((g) => g.gate).slice(0, 3)).toEqual([
      "accuracy",
      "latency-p95",
      "error-rate",
    ]);
  });

  it("ignores a stale observation of the wrong kind and measures instead", () => {
    const decision = advance(plan(), state(0, 10), { kind: "accuracy", gate: accuracyGate("pass") }, at(11));
    expect(decision.kind).toBe("measure");
  });
});

describe("advance: a resumed rollout", () => {
  it("holds the resumed step for its whole duration from the time it was resumed", () => {
    const resumed = state(1, 50, { stepStartedAt: at(100).toISOString() });
    expect(advance(plan(), resumed, undefined, at(100))).toEqual({ kind: "hold", until: at(110) });
  });

  it("reverts when the recorded step is beyond the plan (the steps changed since)", () => {
    expect(advance(plan(false, [10]), state(3, 50), undefined, at(0))).toEqual({
      kind: "revert",
      reason: "the recorded step 4 is not in the plan, which has 1 steps",
    });
  });
});

describe("advance: looks during a step, extensions, no traffic", () => {
  const looking = (maxExtensions = 1): CanaryPlan => ({
    ...plan(),
    sequential: { alpha: 0.01, lookIntervalS: 1, maxExtensions },
  });
  const samples = (n: number, ms: number) => Array.from({ length: n }, (_, i) => ms + (i % 7) * 0.01);
  const withSamples = (t: TrackMetrics, ms: number): TrackMetrics => ({
    ...t,
    samplesMs: samples(t.requests - t.errors, ms),
  });
  const observed = (
    canary: TrackMetrics,
    look: "interim" | "final",
    stable = withSamples(track(64, 0, 1), 1),
  ) => ({
    kind: "metrics" as const,
    look,
    metrics: { window: { start: T0, end: at(2).toISOString() }, stable, canary },
  });

  it("looks every interval during the step and at its end, on a grid from the step's start", () => {
    expect(advance(looking(), state(0, 10), undefined, at(0.2))).toEqual({ kind: "hold", until: at(1) });
    expect(advance(looking(), state(0, 10), undefined, at(2.1))).toEqual({
      kind: "measure",
      window: { start: at(0), end: at(2.1) },
      look: "interim",
    });
    expect(advance(looking(), state(0, 10), undefined, at(10.01))).toMatchObject({
      kind: "measure",
      look: "final",
    });
  });

  it("holds until the next look when an interim look finds no clear failure", () => {
    const fine = observed(withSamples(track(16, 0, 1), 1), "interim");
    expect(advance(looking(), state(0, 10), fine, at(2.1))).toEqual({ kind: "hold", until: at(3) });
  });

  it("aborts 2 s into a step when half the canary's requests fail, with the partial step as evidence", () => {
    const failing = observed(withSamples(track(16, 8, 1), 1), "interim");
    const decision = advance(looking(), state(0, 10), failing, at(2));
    expect(decision).toMatchObject({
      kind: "revert",
      reason: expect.stringMatching(/^aborted 2s into step 1: errors-vs-stable/),
    });
    if (decision.kind !== "revert") return;
    expect(decision.record).toMatchObject({ durationS: 2, canary: { requests: 16, errors: 8 } });
    expect(decision.record?.gates.every((g) => g.look === "interim")).toBe(true);
  });

  it("aborts a canary four times slower within 2 s", () => {
    const slow = observed(withSamples(track(16, 0, 4), 4), "interim");
    expect(advance(looking(), state(0, 10), slow, at(2))).toMatchObject({
      kind: "revert",
      reason: expect.stringMatching(/latency-vs-stable/),
    });
  });

  it("extends an inconclusive step, then reverts on the doubt once the extensions are spent", () => {
    const thin = observed(withSamples(track(5, 0, 1), 1), "final");
    const extended = advance(looking(1), state(0, 10), thin, at(10));
    expect(extended).toMatchObject({
      kind: "hold",
      until: at(11),
      note: expect.stringMatching(/^step 1 extended by 10s \(1\/1\)/),
    });
    // During the extension the looks go on; at its end the step is judged again.
    expect(advance(looking(1), state(0, 10), undefined, at(15.5))).toMatchObject({
      kind: "measure",
      look: "interim",
    });
    expect(advance(looking(1), state(0, 10), undefined, at(20))).toMatchObject({
      kind: "measure",
      look: "final",
    });
    expect(advance(looking(1), state(0, 10), thin, at(20))).toMatchObject({
      kind: "revert",
      reason: expect.stringMatching(/^inconclusive at step 1 after 1 extension\(s\): latency-p95: only 5/),
    });
  });

  it("never promotes a canary nobody used, even with no traffic gate configured", () => {
    const noGates: CanaryPlan = { ...plan(false, [100]), gates: {} };
    const none = observed(track(0, 0, 0), "final", track(0, 0, 0));
    expect(advance(noGates, state(0, 100), none, at(10))).toMatchObject({
      kind: "revert",
      reason: "inconclusive at step 1: traffic: no request reached the canary",
    });
  });
});
