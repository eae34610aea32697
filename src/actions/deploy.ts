import * as core from "@actions/core";
import { deployStage } from "../pipeline/deploy.js";
import { leftoverText, rolloutMarkdown } from "../report/summary.js";
import { actionLogger, configFromInputs, writeReport } from "./common.js";

export async function deployAction(): Promise<void> {
  const report = await deployStage(await configFromInputs(), actionLogger);
  core.setOutput("revision", report.revision);
  core.setOutput("outcome", report.outcome);
  core.setOutput("reason", report.reason);
  core.setOutput("report", await writeReport("deploy", report));
  const summary = core.summary
    .addHeading(`modelship deploy: ${report.revision} ${report.outcome}`, 2)
    .addRaw(report.reason, true);
  if (report.leftover) summary.addRaw(`\n⚠️ ${leftoverText(report.leftover)}\n`, true);
  if (report.rollout) summary.addRaw(`\n${rolloutMarkdown(report.rollout)}\n`, true);
  await summary.write();
  if (report.outcome === "reverted")
    core.setFailed(`canary ${report.revision} was reverted: ${report.reason}`);
}
