// The ledger keeps each gate's evidence (optional fields, so ledgers written before still read),
// the eval set's parts, and NaN figures through JSON (written null, read back NaN).
import { describe, expect, it } from "vitest";
import type { GateResult } from "../../src/gates/gates.js";
import {
  addRevision,
  deployStable,
  emptyLedger,
  parseLedger,
  recordCanaryProgress,
  startCanary,
} from "../../src/state/ledger.js";

const canary = () => {
  let ledger = emptyLedger();
  for (const d of ["a", "b"])
    ledger = addRevision(ledger, { name: "m", path: d, digest: `sha256:${d}` }, undefined, "t").ledger;
  return startCanary(deployStable(ledger, "r1", "t"), "r2", "t0");
};
const window = { requests: 10, errors: 0, latencyMs: { p50: 1, p90: 2, p95: 2, p99: 3, max: 4, count: 10 } };

const evidence: GateResult = {
  gate: "accuracy",
  status: "inconclusive",
  observed: Number.NaN,
  threshold: Number.NaN,
  samples: 50,
  message: "m",
  warnings: ["the eval set is too small"],
  parts: [
    {
      gate: "accuracy-vs-stable",
      status: "fail",
      observed: -0.32,
      threshold: -0.1,
      samples: 50,
      message: "paired",
      test: "Tango (1998) score test of paired non-inferiority",
      pValue: 0.999,
      alpha: 0.05,
      estimate: -0.32,
      interval: [-0.46, Number.NaN],
      sizes: { canary: 50, stable: 50 },
      look: "final",
      figures: { canaryAccuracy: 0.68, smallestMargin: Number.NaN },
    },
  ],
};

describe("gate records in the ledger", () => {
  it("keep the evidence and the parts through JSON, NaN included", () => {
    const ledger = recordCanaryProgress(canary(), {
      accuracy: evidence,
      step: { weight: 0, durationS: 0, stable: window, canary: window, gates: [evidence] },
    });
    const read = parseLedger(JSON.parse(JSON.stringify(ledger)));
    expect(read.success).toBe(true);
    if (!read.success) return;
    const kept = read.data.canary?.progress?.accuracy;
    expect(kept?.observed).toBeNaN();
    expect(kept?.threshold).toBeNaN();
    const part = kept?.parts?.[0];
    expect(part).toMatchObject({
      gate: "accuracy-vs-stable",
      pValue: 0.999,
      sizes: { canary: 50, stable: 50 },
    });
    expect(part?.interval?.[1]).toBeNaN();
    expect(part?.figures?.smallestMargin).toBeNaN();
    expect(read.data.canary?.progress?.steps[0]?.gates[0]?.warnings).toEqual(["the eval set is too small"]);
  });

  it("read records written before the gates kept evidence", () => {
    const ledger = JSON.parse(JSON.stringify(canary()));
    ledger.canary.progress = {
      step: 0,
      stepStartedAt: "t1",
      steps: [
        {
          weight: 10,
          durationS: 5,
          stable: window,
          canary: window,
          gates: [
            {
              gate: "latency-vs-stable",
              status: "pass",
              observed: 1.5,
              threshold: 20,
              samples: 40,
              message: "old",
            },
          ],
        },
      ],
    };
    const read = parseLedger(ledger);
    expect(read.success).toBe(true);
    if (read.success)
      expect(read.data.canary?.progress?.steps[0]?.gates[0]).toEqual({
        gate: "latency-vs-stable",
        status: "pass",
        observed: 1.5,
        threshold: 20,
        samples: 40,
        message: "old",
      });
  });
});
