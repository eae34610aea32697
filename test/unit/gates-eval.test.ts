import { describe, expect, it } from "vitest";
import type { EvalAnswers } from "../../src/gates/accuracy.js";
import { EVAL_DEFAULTS, type EvalGatePlan, evalGates } from "../../src/gates/evaluation.js";

const answers = (values: (number | string | null)[], failure = "HTTP 500"): EvalAnswers => ({
  values,
  failures: values.map((v) => (v === null ? failure : "")),
});
const plan = (extra: Partial<EvalGatePlan> = {}): EvalGatePlan => ({
  ...EVAL_DEFAULTS,
  task: "classification",
  min: 0.85,
  margin: 0.1,
  ...extra,
});
const part = (result: ReturnType<typeof evalGates>, gate: string) =>
  result.parts?.find((p) => p.gate === gate);

// The Iris example's 50 rows: v1 right on 44, v2 on all 50, v3 on 34 (only ever wrong where v2 is right).
const labels = Array.from({ length: 50 }, (_, i) => i % 3);
const v2 = answers(labels);
const v1 = answers(labels.map((l, i) => (i < 6 ? (l + 1) % 3 : l)));
const v3 = answers(labels.map((l, i) => (i < 16 ? (l + 1) % 3 : l)));

describe("the eval set's gates", () => {
  it("passes v2 against v1: better, and the paired figures say by how much", () => {
    const r = evalGates(labels, v2, v1, plan(), 0.001);
    expect(r).toMatchObject({ gate: "accuracy", status: "pass", observed: 1, threshold: 0.85 });
    expect(part(r, "accuracy-vs-stable")).toMatchObject({
      status: "pass",
      estimate: 0.12,
      figures: { onlyCanaryRight: 6, onlyStableRight: 0, canaryAccuracy: 1, stableAccuracy: 0.88 },
    });
    expect(part(r, "agreement")).toMatchObject({ observed: 0.88, figures: { agreeing: 44 } });
  });

  it("fails v3 against v2 on the minimum and on the paired test", () => {
    const r = evalGates(labels, v3, v2, plan(), 0.001);
    expect(r.status).toBe("fail");
    expect(part(r, "accuracy-min")).toMatchObject({ status: "fail", observed: 0.68 });
    expect(part(r, "accuracy-vs-stable")).toMatchObject({ status: "fail", estimate: -0.32 });
  });

  it("passes identical answers at a 10-point margin on 50 rows, and warns that 5 points needs 52", () => {
    expect(evalGates(labels, v2, v2, plan(), 0.001).status).toBe("pass");
    const strict = evalGates(labels, v2, v2, plan({ margin: 0.05 }), 0.001);
    expect(part(strict, "accuracy-vs-stable")?.status).toBe("fail");
    expect(strict.warnings?.join()).toMatch(
      /too small for a margin of 0.05: .*need ≥ 52 rows, or a margin ≥ 0.051/,
    );
  });

  it("gates the first deployment on its own minimum only, with nothing to compare", () => {
    const r = evalGates(labels, v1, undefined, plan(), 0.001);
    expect(r.parts?.map((p) => p.gate)).toEqual(["accuracy-min"]);
    expect(r.status).toBe("pass");
  });

  it("fails agreement significantly below its minimum (exact binomial on disagreements)", () => {
    const r = evalGates(labels, v1, v2, plan({ agreementMin: 0.99 }), 0.01);
    expect(part(r, "agreement")).toMatchObject({ status: "fail", observed: 0.88 });
    expect(evalGates(labels, v2, v2, plan({ agreementMin: 0.99 }), 0.01).status).toBe("pass");
  });

  it("names bad input instead of judging it: unknown labels, failing rows, every row failing, too few rows", () => {
    const named = evalGates(
      ["setosa", ...labels.slice(1).map(String)].map(() => "setosa"),
      v2,
      v2,
      plan(),
      0.001,
    );
    expect(named.status).toBe("inconclusive");
    expect(named.message).toMatch(/labels \(setosa\) are never what the models answer \(0, 1, 2\)/);
    const someFail = answers(labels.map((l, i) => (i < 3 ? null : l)));
    expect(evalGates(labels, someFail, v2, plan(), 0.001).warnings?.[0]).toBe(
      "3/50 rows got no answer from the canary (HTTP 500); counted wrong",
    );
    const allFail = evalGates(
      labels,
      answers(
        labels.map(() => null),
        "malformed body: x",
      ),
      v2,
      plan(),
      0.001,
    );
    expect(allFail).toMatchObject({
      status: "fail",
      message: "every row failed on the canary (malformed body: x)",
    });
    expect(evalGates(labels.slice(0, 5), answers(labels.slice(0, 5)), undefined, plan(), 0.001).status).toBe(
      "inconclusive",
    );
  });

  it("judges regression outputs by a paired bootstrap of the MAE difference; NaN answers are failures", () => {
    const y = Array.from({ length: 60 }, (_, i) => i / 10);
    const good = answers(y.map((v, i) => v + (i % 2 ? 0.1 : -0.1)));
    const worse = answers(y.map((v, i) => v + (i % 2 ? 0.5 : -0.5)));
    const p = plan({ task: "regression", margin: 0.05, min: undefined });
    expect(part(evalGates(y, good, good, p, 0.001), "accuracy-vs-stable")).toMatchObject({
      status: "pass",
      estimate: 0,
    });
    expect(part(evalGates(y, worse, good, p, 0.001), "accuracy-vs-stable")).toMatchObject({
      status: "fail",
      estimate: 0.4,
    });
    const nan = answers(
      y.map(() => null),
      "a non-finite number",
    );
    expect(part(evalGates(y, nan, good, p, 0.001), "accuracy-vs-stable")).toBeUndefined();
    expect(evalGates(y, nan, good, p, 0.001).status).toBe("fail");
  });
});
