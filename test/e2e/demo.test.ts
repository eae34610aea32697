// The quick start's `npm run demo`, as a user runs it: a real CLI process, real model servers,
// real traffic through the local router. One promotion and one automatic revert, each decided by
// a gate figure.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import type { DemoReport } from "../../src/pipeline/demo.js";
import { pipelineMarkdown } from "../../src/report/summary.js";

const root = resolve(import.meta.dirname, "..", "..");

/** Live processes whose environment carries the marker. */
async function processesWithMarker(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const environ = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "");
    if (environ.includes(`MODELSHIP_TEST_MARKER=${marker}`)) found.push(Number(entry));
  }
  return found;
}

it("demo: v1 deployed after its own gates, v2 promoted on passing gates, v3 reverted by the accuracy gate, nothing left running", async () => {
  const marker = randomUUID();
  const loader = pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href;
  const child = spawn(process.execPath, ["--import", loader, join(root, "src", "bin.ts"), "demo", "--json"], {
    cwd: root,
    env: { ...process.env, MODELSHIP_TEST_MARKER: marker },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  expect(code, stderr).toBe(0);
  const report = JSON.parse(stdout) as DemoReport;
  expect(report.ok).toBe(true);
  expect(report.runs.map((r) => r.report.outcome)).toEqual(["deployed", "promoted", "reverted"]);

  // The first deployment is gated too: v1 passed its own minimum before it became stable.
  const first = report.runs[0]?.report.deploy?.firstDeployment;
  expect(first?.gates.map((g) => [g.gate, g.status])).toEqual([
    ["accuracy", "pass"],
    ["latency-p95", "pass"],
    ["error-rate", "pass"],
  ]);

  const promoted = report.runs[1]?.report.deploy?.rollout;
  expect(promoted?.outcome).toBe("promoted");
  const lastStep = promoted?.steps.at(-1);
  expect(lastStep?.canary.requests).toBeGreaterThan(0);
  expect(lastStep?.gates.every((g) => g.status === "pass")).toBe(true);
  const latency = lastStep?.gates.find((g) => g.gate === "latency-p95");
  expect(latency?.observed).toBeLessThanOrEqual(latency?.threshold ?? 0);

  // The eval set went to both tracks: v2 against v1 on the same 50 rows, and their agreement.
  const evalParts = promoted?.steps[0]?.gates.find((g) => g.gate === "accuracy")?.parts ?? [];
  const paired = evalParts.find((g) => g.gate === "accuracy-vs-stable");
  expect(paired).toMatchObject({
    status: "pass",
    samples: 50,
    figures: { canaryAccuracy: 1, stableAccuracy: 0.88 },
  });
  expect(paired?.estimate).toBeCloseTo(0.12, 10);
  expect(evalParts.find((g) => g.gate === "agreement")).toMatchObject({ observed: 0.88 });
  const summary = pipelineMarkdown(report.runs[1]?.report as DemoReport["runs"][number]["report"]);
  expect(summary).toContain("paired accuracy on the same 50 rows: canary 1 vs stable 0.88, Δ 0.12");
  expect(summary).toContain("agreement 88% (44/50 rows)");
  expect(promoted?.warmup?.requests).toBe(20);

  const reverted = report.runs[2]?.report.deploy?.rollout;
  expect(reverted?.outcome).toBe("reverted");
  const failed = reverted?.steps.flatMap((s) => s.gates).find((g) => g.status === "fail");
  expect(failed?.gate).toBe("accuracy");
  expect(failed?.observed).toBeLessThan(failed?.threshold ?? 0);
  expect(reverted?.reason).toContain(String(failed?.observed));
  expect(failed?.parts?.find((g) => g.gate === "accuracy-vs-stable")).toMatchObject({
    status: "fail",
    estimate: -0.32,
  });
  // The bad canary never took traffic: it was stopped before any weight moved.
  expect(reverted?.steps.every((s) => s.weight === 0)).toBe(true);

  // Every model server the demo started has exited with it (children inherit the marker).
  expect(await processesWithMarker(marker)).toEqual([]);
}, 240_000);
