// The pure parts of the GitHub side: the sticky comment's marker and rendering, the post step's
// "is this still our canary?", and the rollback's plain refusal on an empty ledger.
import { describe, expect, it } from "vitest";
import { nothingToRollBack, reasonWithActor } from "../../src/actions/stable-change.js";
import { commentMarker, findSticky, withMarker, withoutMarker } from "../../src/github/comment.js";
import { closedMarkdown, previewMarkdown } from "../../src/github/preview-comment.js";
import { ownCanary } from "../../src/pipeline/cancel.js";
import type { PreviewReport } from "../../src/pipeline/preview.js";
import { addRevision, deployStable, emptyLedger, startCanary } from "../../src/state/ledger.js";

const window = (p95: number) => ({
  requests: 100,
  errors: 0,
  latencyMs: { p50: p95 / 2, p90: p95 * 0.9, p95, p99: p95 * 1.2, max: p95 * 2, count: 100 },
});
const digest = `sha256:${"c".repeat(64)}`;

const report: PreviewReport = {
  model: { name: "iris", path: "/w/models/v2", digest },
  verdict: "fail",
  reason: "accuracy: paired: canary 0.68 vs stable 0.88",
  production: {
    source: "base-commit",
    path: "/t/base/models/v2",
    digest: `sha256:${"d".repeat(64)}`,
    sha: "9049f1265b7d61be4a8904a9a27120d2064dab3b",
  },
  notes: ["the local target's ledger is empty on this runner"],
  validation: {
    path: "/w/models/v2",
    accepted: true,
    format: "onnx",
    digest,
    findings: [],
    files: [],
    artifacts: [],
    compatibility: { baseline: "/t/base", changes: [] },
  } as unknown as PreviewReport["validation"],
  comparison: {
    revision: "r2",
    outcome: "reverted",
    reason: "accuracy",
    rollout: {
      revision: "r2",
      stable: "r1",
      outcome: "reverted",
      reason: "accuracy",
      steps: [
        {
          weight: 20,
          durationS: 5,
          stable: window(4),
          canary: window(5),
          gates: [
            {
              gate: "accuracy",
              status: "fail",
              observed: 0.68,
              threshold: 0.85,
              samples: 50,
              message: "m",
              parts: [
                {
                  gate: "accuracy-vs-stable",
                  status: "fail",
                  observed: -0.2,
                  threshold: -0.1,
                  samples: 50,
                  message: "paired",
                  test: "Tango (1998) score test of paired non-inferiority",
                  pValue: 0.93,
                  estimate: -0.2,
                  interval: [-0.33, -0.08],
                  figures: { stableAccuracy: 0.88, canaryAccuracy: 0.68 },
                },
                {
                  gate: "agreement",
                  status: "pass",
                  observed: 0.8,
                  threshold: Number.NaN,
                  samples: 50,
                  message: "agree",
                  figures: { agreement: 0.8, agreeing: 40, jensenShannon: 0.02 },
                },
              ],
            },
          ],
        },
      ],
    },
  },
};

describe("the preview comment", () => {
  it("says the verdict first, then accuracy (both, with the p-value), agreement, latency of both, a chart", () => {
    const md = previewMarkdown(report, {
      pullRequest: 12,
      headSha: "6dcb09b5b57875f3",
      at: "2026-12-01T10:00:00Z",
      notices: ["fork notice"],
    });
    const firstLine = md.split("\n")[0];
    expect(firstLine).toBe("## ❌ modelship preview: iris would not pass the production gates");
    const order = [
      "**fail**",
      "> [!NOTE]",
      "### Validation",
      "### Accuracy",
      "### Latency",
      "```mermaid",
      "### Every gate",
      "### How it was judged",
    ];
    const at = order.map((s) => md.indexOf(s));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(md).toContain(
      "| 0.88 | 0.68 | -0.2 (-0.33 … -0.08) | Tango (1998) score test of paired non-inferiority | 0.93 | ❌ fail |",
    );
    expect(md).toContain("| 80% | 40/50 | 0.02 |");
    expect(md).toMatch(/\| step 1 \(20%\) \| production \| 100 \| 2\.00 ms \| 4\.00 ms \| 4\.80 ms \| 0 \|/);
    expect(md).toContain("the base commit 9049f1265b7d");
  });

  it("says when the comparison went through the cluster, and how the live preview is reached", () => {
    const onRunner = previewMarkdown(report, { pullRequest: 12, at: "2026-12-01T10:00:00Z" });
    expect(onRunner).not.toContain("through the cluster");
    expect(onRunner).not.toContain("Live preview");
    const md = previewMarkdown(
      {
        ...report,
        comparedIn: "cluster",
        live: {
          removed: [],
          expired: [],
          notes: [],
          url: "http://iris-pr-12.ml.svc.cluster.local:8000",
          access: {
            url: "http://iris-pr-12.ml.svc.cluster.local:8000",
            header: { name: "x-modelship-preview", value: "pr-12" },
            hosts: ["iris.example.com"],
            how: "through the VirtualService iris (hosts iris.example.com, mesh) with the header `x-modelship-preview: pr-12`, a rule ahead of the stable route",
          },
        },
      },
      { pullRequest: 12, at: "2026-12-01T10:00:00Z", url: "http://iris-pr-12.ml.svc.cluster.local:8000" },
    );
    expect(md).toContain("Compared through the cluster: the candidate ran as its live preview's pod");
    expect(md).toContain(
      "Live preview: http://iris-pr-12.ml.svc.cluster.local:8000\nReached through the VirtualService iris",
    );
  });

  it("the marker is the first line; a quote of it is not the sticky comment; the oldest wins", () => {
    const marker = commentMarker("iris v2");
    expect(marker).toBe("<!-- modelship-preview:iris_v2 -->");
    const comments = [
      { id: 5, body: `> ${marker}\nquoted` },
      { id: 9, body: withMarker(marker, "later duplicate") },
      { id: 7, body: withMarker(marker, "ours") },
      { id: 3, body: withMarker(commentMarker("other"), "another model's") },
    ];
    expect(findSticky(comments, marker)?.id).toBe(7);
    expect(withoutMarker(withMarker(marker, "a\nb"))).toBe("a\nb");
  });

  it("closing keeps the last evaluation folded, once, even when closed twice", () => {
    const first = closedMarkdown("## ✅ evaluation", { at: "t1", removed: [] });
    const second = closedMarkdown(first, { at: "t2", removed: [] });
    expect(second.match(/<details>/g)).toHaveLength(1);
    expect(second).toContain("## ✅ evaluation");
    expect(second).toContain("closed t2");
    expect(second).not.toContain("closed t1");
  });
});

describe("the post step's check", () => {
  const owner = { pid: 4242, host: "runner-1" };
  const at = "2026-12-01T10:00:00Z";
  let ledger = emptyLedger();
  for (const d of ["a", "b"])
    ledger = addRevision(ledger, { name: "iris", path: d, digest: d }, undefined, at).ledger;
  ledger = deployStable(ledger, "r1", at);
  const running = startCanary(ledger, "r2", at, owner);

  it("reverts only this run's canary: same revision, same owner", () => {
    expect(ownCanary(running, { revision: "r2", owner })).toBeUndefined();
    expect(ownCanary(ledger, { revision: "r2", owner })).toMatch(/no canary is in progress/);
    expect(ownCanary(running, { revision: "r3", owner })).toMatch(/not this run's r3/);
    expect(ownCanary(running, { revision: "r2", owner: { pid: 1, host: "runner-1" } })).toMatch(
      /belongs to pid 4242/,
    );
  });
});

describe("rollback by dispatch", () => {
  it("an empty local ledger explains the fresh runner; an empty cluster ledger says what it is", () => {
    expect(nothingToRollBack(emptyLedger(), "/r/.modelship/ledger.json", true)).toMatch(
      /fresh GitHub-hosted runner/,
    );
    expect(nothingToRollBack(emptyLedger(), "ConfigMap prod/modelship-iris", false)).toMatch(
      /has no revisions/,
    );
  });

  it("records who and where", () => {
    expect(
      reasonWithActor("bad p99", { actor: "octocat", runUrl: "https://github.com/o/r/actions/runs/1" }),
    ).toBe("bad p99 (by @octocat, https://github.com/o/r/actions/runs/1)");
    expect(reasonWithActor(undefined, {})).toBe("manual rollback");
  });
});
