import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import { checkGates } from "../pipeline/gate.js";
import { gateParser } from "../settings/gate.js";
import { fromInputs } from "../settings/sources.js";
import { markdownTable } from "../util/table.js";
import { writeReport } from "./common.js";

export async function gateAction(): Promise<void> {
  const settings = fromInputs(gateParser, core.getInput);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const report = await checkGates(config, settings.url, settings.durationS);
  core.setOutput("passed", String(report.passed));
  core.setOutput("report", await writeReport("gate", report));
  await core.summary
    .addHeading(`${report.passed ? "✅ gates passed" : "❌ gates failed"}`, 2)
    .addRaw(
      markdownTable(
        ["gate", "status", "evidence"],
        report.gates.map((g) => [g.gate, g.status, g.message]),
      ),
      true,
    )
    .write();
  if (!report.passed)
    core.setFailed(
      report.gates
        .filter((g) => g.status !== "pass")
        .map((g) => `${g.gate}: ${g.message}`)
        .join("; "),
    );
}
