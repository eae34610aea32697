import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import { deployStage } from "../pipeline/deploy.js";
import { leftoverText, rolloutMarkdown } from "../report/summary.js";
import { deployParser } from "../settings/deploy.js";
import { fromInputs } from "../settings/sources.js";
import { actionLogger, writeReport } from "./common.js";
import { withKubeconfig } from "./kubeconfig.js";

export async function deployAction(): Promise<void> {
  const settings = fromInputs(deployParser, core.getInput, core.setSecret);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const report = await withKubeconfig(settings.kubeconfig, () =>
    deployStage(config, actionLogger, { resume: settings.resume }),
  );
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
