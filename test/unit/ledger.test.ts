import { describe, expect, it } from "vitest";
import type { GateResult } from "../../src/gates/gates.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  findRevision,
  LEDGER_VERSION,
  type Ledger,
  ledgerSchema,
  type ModelIdentity,
  parseLedger,
  promoteCanary,
  recordCanaryProgress,
  resumeCanary,
  revertCanary,
  rollback,
  setCanaryWeight,
  startCanary,
} from "../../src/state/ledger.js";

const T = "2024-05-01T12:00:00.000Z";
const model = (digest: string): ModelIdentity => ({
  name: "iris",
  path: `models/${digest}.onnx`,
  digest: `sha256:${digest}`,
});

/** A ledger with revisions r1..rN registered (none deployed). */
function withRevisions(count: number): Ledger {
  let ledger = emptyLedger();
  for (let i = 1; i <= count; i++) ledger = addRevision(ledger, model(`m${i}`), undefined, T).ledger;
  return ledger;
}

describe("addRevision", () => {
  it("numbers new revisions r1, r2, … and records model, image and time", () => {
    const first = addRevision(emptyLedger(), model("a"), "reg/iris@sha256:1", T);
    expect(first.revision).toEqual({ id: "r1", model: model("a"), image: "reg/iris@sha256:1", createdAt: T });
    const second = addRevision(first.ledger, model("b"), undefined, "later");
    expect(second.revision.id).toBe("r2");
    expect(second.ledger.revisions.map((r) => r.id)).toEqual(["r1", "r2"]);
  });

  it("returns the existing revision for the same digest and image without changing the ledger", () => {
    const { ledger } = addRevision(emptyLedger(), model("a"), "img", T);
    const again = addRevision(ledger, model("a"), "img", "later");
    expect(again.revision.id).toBe("r1");
    expect(again.ledger).toBe(ledger);
  });

  it("the same digest found at another path is the same revision, now at that path", () => {
    const { ledger } = addRevision(emptyLedger(), model("a"), "img", T);
    const moved = { ...model("a"), path: "/elsewhere/model.onnx" };
    const again = addRevision(ledger, moved, "img", "later");
    expect(again.revision).toEqual({ id: "r1", model: moved, image: "img", createdAt: T });
    expect(again.ledger.revisions).toEqual([again.revision]);
    expect(ledger.revisions[0]?.model.path).toBe(model("a").path);
  });

  it("a revision recorded before copies (no source) takes the copy and its source; a new source replaces the old", () => {
    const { ledger } = addRevision(emptyLedger(), model("a"), undefined, T);
    const copy = { ...model("a"), path: "/state/models/aaaa", source: "/work/model-a" };
    const upgraded = addRevision(ledger, copy, undefined, "later");
    expect(upgraded.revision).toMatchObject({ id: "r1", model: copy });
    const movedSource = { ...copy, source: "/work/moved/model-a" };
    const again = addRevision(upgraded.ledger, movedSource, undefined, "later");
    expect(again.revision.model).toEqual(movedSource);
    // And back to a target without copies: no stale source is left on the record.
    expect(addRevision(again.ledger, model("a"), undefined, "later").revision.model).toEqual(model("a"));
  });

  it("makes a new revision when the same model ships in a different image", () => {
    const { ledger } = addRevision(emptyLedger(), model("a"), "img:1", T);
    const other = addRevision(ledger, model("a"), "img:2", T);
    expect(other.revision.id).toBe("r2");
    const noImage = addRevision(other.ledger, model("a"), undefined, T);
    expect(noImage.revision.id).toBe("r3");
  });

  it("does not mutate the ledger it is given", () => {
    const ledger = emptyLedger();
    addRevision(ledger, model("a"), undefined, T);
    expect(ledger.revisions).toEqual([]);
  });
});

describe("findRevision", () => {
  it("finds a recorded revision", () => {
    expect(findRevision(withRevisions(2), "r2").model.digest).toBe("sha256:m2");
  });

  it("names the known revisions when one is missing", () => {
    expect(() => findRevision(withRevisions(2), "r9")).toThrow(
      "revision r9 is not in the ledger (known revisions: r1, r2)",
    );
    expect(() => findRevision(emptyLedger(), "r1")).toThrow("(known revisions: none)");
  });
});

describe("deployStable", () => {
  it("makes the revision stable, clears any canary and records the previous stable", () => {
    let ledger = deployStable(withRevisions(3), "r1", T);
    ledger = startCanary(ledger, "r2", T);
    ledger = deployStable(ledger, "r3", "t2", "hotfix");
    expect(ledger.stable).toBe("r3");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.history.at(-1)).toEqual({
      at: "t2",
      action: "deploy",
      revision: "r3",
      previous: "r1",
      reason: "hotfix",
    });
  });

  it("rejects an unknown revision", () => {
    expect(() => deployStable(withRevisions(1), "r2", T)).toThrow(/revision r2 is not in the ledger/);
  });
});

describe("canary transitions", () => {
  const deployed = () => deployStable(withRevisions(2), "r1", T);

  it("starts a canary at weight 0 beside the stable", () => {
    const ledger = startCanary(deployed(), "r2", "t1", { pid: 42, host: "runner" });
    expect(ledger.canary).toEqual({
      revision: "r2",
      weight: 0,
      startedAt: "t1",
      owner: { pid: 42, host: "runner" },
      progress: { step: -1, stepStartedAt: "t1", steps: [] },
    });
    expect(ledger.stable).toBe("r1");
    expect(ledger.history.at(-1)).toEqual({ at: "t1", action: "canary", revision: "r2", previous: "r1" });
  });

  it("needs a stable revision to compare with", () => {
    expect(() => startCanary(withRevisions(2), "r2", T)).toThrow(/needs a stable revision/);
  });

  it("refuses a second canary while one is in progress", () => {
    const ledger = startCanary(deployed(), "r2", T);
    expect(() => startCanary(ledger, "r2", T)).toThrow(
      "canary r2 is still in progress; promote or revert it first",
    );
  });

  it("refuses an unknown canary revision", () => {
    expect(() => startCanary(deployed(), "r7", T)).toThrow(/revision r7 is not in the ledger/);
  });

  it("records each weight change", () => {
    let ledger = startCanary(deployed(), "r2", T);
    ledger = setCanaryWeight(ledger, 10, "t1");
    ledger = setCanaryWeight(ledger, 50, "t2");
    expect(ledger.canary).toMatchObject({ revision: "r2", weight: 50 });
    expect(ledger.history.filter((h) => h.action === "weight").map((h) => h.weight)).toEqual([10, 50]);
    // A weight alone does not move the rollout to another step.
    expect(ledger.canary?.progress).toEqual({ step: -1, stepStartedAt: T, steps: [] });
  });

  it.each([-1, 101, Number.NaN])("rejects the canary weight %d", (weight) => {
    const ledger = startCanary(deployed(), "r2", T);
    expect(() => setCanaryWeight(ledger, weight, T)).toThrow(/between 0 and 100/);
  });

  it("refuses a weight, promote or revert without a canary", () => {
    expect(() => setCanaryWeight(deployed(), 10, T)).toThrow("no canary is in progress");
    expect(() => promoteCanary(deployed(), T)).toThrow(/nothing to promote/);
    expect(() => revertCanary(deployed(), T, "why")).toThrow(/nothing to revert/);
  });

  it("promote makes the canary stable and records the reason", () => {
    let ledger = setCanaryWeight(startCanary(deployed(), "r2", T), 100, T);
    ledger = promoteCanary(ledger, "t3", "all gates passed");
    expect(ledger.stable).toBe("r2");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.history.at(-1)).toEqual({
      at: "t3",
      action: "promote",
      revision: "r2",
      previous: "r1",
      reason: "all gates passed",
    });
  });

  it("revert keeps the stable, drops the canary and records why", () => {
    let ledger = setCanaryWeight(startCanary(deployed(), "r2", T), 25, T);
    ledger = revertCanary(ledger, "t3", "latency-p95: too slow");
    expect(ledger.stable).toBe("r1");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.history.at(-1)).toEqual({
      at: "t3",
      action: "revert",
      revision: "r2",
      previous: "r1",
      reason: "latency-p95: too slow",
    });
  });

  it("every transition yields a ledger the schema accepts", () => {
    let ledger = startCanary(deployed(), "r2", T);
    ledger = setCanaryWeight(ledger, 30, T);
    ledger = promoteCanary(ledger, T);
    expect(ledgerSchema.safeParse(JSON.parse(JSON.stringify(ledger))).success).toBe(true);
  });
});

describe("rollback", () => {
  const promote = (ledger: Ledger, revision: string) => promoteCanary(startCanary(ledger, revision, T), T);

  it("goes back to the revision that was stable before the current one", () => {
    let ledger = deployStable(withRevisions(3), "r1", T);
    ledger = promote(ledger, "r2");
    ledger = promote(ledger, "r3");
    ledger = rollback(ledger, "t9", undefined, "bad release");
    expect(ledger.stable).toBe("r2");
    expect(ledger.history.at(-1)).toEqual({
      at: "t9",
      action: "rollback",
      revision: "r2",
      previous: "r3",
      reason: "bad release",
    });
  });

  it("ignores reverted canaries when looking for the previous stable", () => {
    let ledger = deployStable(withRevisions(3), "r1", T);
    ledger = promote(ledger, "r2");
    ledger = revertCanary(startCanary(ledger, "r3", T), T, "failed gate");
    expect(rollback(ledger, T).stable).toBe("r1");
  });

  it("skips a redeploy of the same revision", () => {
    let ledger = deployStable(withRevisions(2), "r1", T);
    ledger = deployStable(ledger, "r2", T);
    ledger = deployStable(ledger, "r2", T, "restart");
    expect(rollback(ledger, T).stable).toBe("r1");
  });

  it("goes to the revision named with --to", () => {
    let ledger = deployStable(withRevisions(3), "r1", T);
    ledger = promote(ledger, "r2");
    ledger = promote(ledger, "r3");
    expect(rollback(ledger, T, "r1").stable).toBe("r1");
  });

  it("clears a canary in progress", () => {
    let ledger = deployStable(withRevisions(3), "r1", T);
    ledger = promote(ledger, "r2");
    ledger = startCanary(ledger, "r3", T);
    const rolled = rollback(ledger, T);
    expect(rolled.stable).toBe("r1");
    expect(rolled.canary).toBeUndefined();
  });

  it("says there is nothing to roll back when nothing is deployed", () => {
    expect(() => rollback(withRevisions(2), T)).toThrow(/nothing is deployed/);
  });

  it("asks for --to when only one revision was ever stable", () => {
    const ledger = deployStable(withRevisions(2), "r1", T);
    expect(() => rollback(ledger, T)).toThrow(
      "revision r1 is the only one ever made stable; name one with --to",
    );
    expect(rollback(ledger, T, "r2").stable).toBe("r2");
  });

  it("rejects --to naming an unknown revision or the current stable", () => {
    let ledger = deployStable(withRevisions(2), "r1", T);
    ledger = promote(ledger, "r2");
    expect(() => rollback(ledger, T, "r5")).toThrow(/revision r5 is not in the ledger/);
    expect(() => rollback(ledger, T, "r2")).toThrow("revision r2 is already stable");
  });
});

describe("ledgerSchema", () => {
  it("rejects a canary weight outside 0..100 and malformed revision ids", () => {
    const base = deployStable(withRevisions(1), "r1", T);
    expect(ledgerSchema.safeParse({ ...base, canary: { revision: "r1", weight: 120 } }).success).toBe(false);
    const badId = { ...base, revisions: [{ ...base.revisions[0], id: "rev-1" }] };
    expect(ledgerSchema.safeParse(badId).success).toBe(false);
    expect(ledgerSchema.safeParse({ ...base, version: 3 }).success).toBe(false);
  });
});

const measuredStep = (status: "pass" | "inconclusive") => ({
  weight: 10,
  durationS: 5,
  stable: { requests: 90, errors: 0, latencyMs: { p50: 1, p90: 2, p95: 2, p99: 3, max: 4, count: 90 } },
  canary: { requests: 10, errors: 0, latencyMs: { p50: 1, p90: 2, p95: 2, p99: 3, max: 4, count: 10 } },
  gates: [
    {
      gate: "latency-p95" as const,
      status,
      observed: status === "pass" ? 2 : Number.NaN,
      threshold: 250,
      samples: 10,
      message: "m",
    },
  ],
});

describe("rollout progress", () => {
  const canary = () =>
    startCanary(deployStable(withRevisions(2), "r1", T), "r2", "t0", { pid: 7, host: "a" });

  it("a weight with a step starts that step at that time, keeping what was measured", () => {
    let ledger = setCanaryWeight(canary(), 10, "t1", 0);
    ledger = recordCanaryProgress(ledger, { step: measuredStep("pass") });
    ledger = setCanaryWeight(ledger, 50, "t2", 1);
    expect(ledger.canary?.progress).toMatchObject({ step: 1, stepStartedAt: "t2" });
    expect(ledger.canary?.progress?.steps).toHaveLength(1);
  });

  it("records the accuracy verdict and finished steps, and refuses them without a canary", () => {
    const accuracy = { ...(measuredStep("pass").gates[0] as GateResult), gate: "accuracy" as const };
    const ledger = recordCanaryProgress(canary(), { accuracy });
    expect(ledger.canary?.progress?.accuracy).toEqual(accuracy);
    expect(() => recordCanaryProgress(deployStable(withRevisions(1), "r1", T), { accuracy })).toThrow(
      "no canary rollout is in progress",
    );
  });

  it("an inconclusive gate's missing figure survives JSON as NaN", () => {
    const ledger = recordCanaryProgress(canary(), { step: measuredStep("inconclusive") });
    const read = parseLedger(JSON.parse(JSON.stringify(ledger)));
    expect(read.success).toBe(true);
    if (read.success) expect(read.data.canary?.progress?.steps[0]?.gates[0]?.observed).toBeNaN();
  });

  it("resume makes the new run the owner, restarts the step at the resume time, and records it", () => {
    let ledger = setCanaryWeight(canary(), 10, "t1", 0);
    ledger = recordCanaryProgress(ledger, { step: measuredStep("pass") });
    ledger = setCanaryWeight(ledger, 50, "t2", 1);
    const resumed = resumeCanary(ledger, "t9", { pid: 8, host: "b" });
    expect(resumed.canary).toMatchObject({ revision: "r2", weight: 50, owner: { pid: 8, host: "b" } });
    expect(resumed.canary?.progress).toMatchObject({ step: 1, stepStartedAt: "t9" });
    expect(resumed.canary?.progress?.steps).toHaveLength(1);
    expect(resumed.history.at(-1)).toEqual({
      at: "t9",
      action: "resume",
      revision: "r2",
      previous: "r1",
      weight: 50,
    });
  });

  it("refuses to resume without a canary, or one recorded without its step", () => {
    expect(() => resumeCanary(deployStable(withRevisions(1), "r1", T), T)).toThrow(/nothing to resume/);
    const old = { ...canary(), canary: { revision: "r2", weight: 20 } };
    expect(() => resumeCanary(old, T)).toThrow(/older modelship without its step.*run without --resume/);
  });
});

describe("parseLedger", () => {
  it("reads a version 1 ledger, an unfinished canary included, as this version", () => {
    const v1 = {
      version: 1,
      revisions: [
        { id: "r1", model: model("a"), createdAt: T },
        { id: "r2", model: model("b"), createdAt: T },
      ],
      stable: "r1",
      canary: { revision: "r2", weight: 20 },
      history: [{ at: T, action: "weight", revision: "r2", weight: 20 }],
    };
    const read = parseLedger(v1);
    expect(read.success).toBe(true);
    if (!read.success) return;
    expect(read.data.version).toBe(LEDGER_VERSION);
    expect(read.data.canary).toEqual({ revision: "r2", weight: 20 });
    expect(ledgerSchema.safeParse(JSON.parse(JSON.stringify(read.data))).success).toBe(true);
  });

  it("rejects a version 1 ledger with a malformed canary, and an unknown version", () => {
    const bad = { version: 1, revisions: [], history: [], canary: { revision: "r1", weight: 300 } };
    expect(parseLedger(bad).success).toBe(false);
    expect(parseLedger({ version: 9, revisions: [], history: [] }).success).toBe(false);
    expect(parseLedger(null).success).toBe(false);
  });
});
