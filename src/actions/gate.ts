import * as core from "@actions/core";
import { checkGates } from "../pipeline/gate.js";
import { markdownTable } from "../util/table.js";
import { configFromInputs, writeReport } from "./common.js";

export async function gateAction(): Promise<void> {
  const duration = core.getInput("duration");
  const report = await checkGates(
    await configFromInputs(),
    core.getInput("url", { required: true }),
    duration ? Number(duration) : undefined,
  );
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
