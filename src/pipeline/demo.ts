import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config/load.js";
import { openTarget } from "../targets/open.js";
import type { Logger } from "../util/log.js";
import { type PipelineReport, runPipeline } from "./run.js";

export interface DemoRun {
  version: string;
  expected: PipelineReport["outcome"];
  report: PipelineReport;
}

export interface DemoReport {
  ok: boolean;
  wallS: number;
  stateDir: string;
  runs: DemoRun[];
}

const plan = [
  { version: "v1", expected: "deployed", story: "first deployment: v1 becomes stable" },
  { version: "v2", expected: "promoted", story: "canary v2, a better model: expect promotion" },
  {
    version: "v3",
    expected: "reverted",
    story: "canary v3, a deliberately worse model: expect an automatic revert",
  },
] as const;

/**
 * The whole pipeline three times on the bundled Iris example, against one local target:
 * v1 → stable, v2 → promoted, v3 → reverted. `ok` says whether each run ended as intended.
 */
export async function runDemo(exampleDir: string, logger: Logger, stateDir?: string): Promise<DemoReport> {
  const started = performance.now();
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), "modelship-demo-")));
  const configFile = join(exampleDir, "modelship.yml");
  const base = await loadConfig(configFile, { "target.stateDir": dir });
  const target = await openTarget(base, logger);
  const runs: DemoRun[] = [];
  try {
    for (const step of plan) {
      logger.info(`\n━━ ${step.story}`);
      const config = await loadConfig(configFile, {
        "model.path": join(exampleDir, "models", step.version),
        "target.stateDir": dir,
      });
      const report = await runPipeline(config, { logger, target });
      runs.push({ version: step.version, expected: step.expected, report });
    }
  } finally {
    await target.close();
    if (!stateDir) await rm(dir, { recursive: true, force: true });
  }
  const ok = runs.length === plan.length && runs.every((r) => r.report.outcome === r.expected);
  return { ok, wallS: (performance.now() - started) / 1000, stateDir: dir, runs };
}
