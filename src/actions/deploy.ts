import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import { readRunContext } from "../github/context.js";
import { deployStage } from "../pipeline/deploy.js";
import { leftoverText, rolloutMarkdown } from "../report/summary.js";
import { deployParser } from "../settings/deploy.js";
import { withGitHub } from "../settings/github.js";
import { fromInputs } from "../settings/sources.js";
import { openState } from "../targets/open.js";
import { errorMessage } from "../util/errors.js";
import { beforeCanaryHook } from "./cancel.js";
import { actionLogger, writeReport } from "./common.js";
import { deploymentsApi, ledgerRevision, productionDeployment } from "./github.js";
import { withKubeconfig } from "./kubeconfig.js";

export async function deployAction(): Promise<void> {
  const { settings, github } = fromInputs(withGitHub(deployParser), core.getInput, core.setSecret);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const context = readRunContext();
  const deployment = productionDeployment(deploymentsApi(github, context), context, actionLogger);
  const report = await withKubeconfig(settings.kubeconfig, async () => {
    try {
      const report = await deployStage(config, actionLogger, {
        resume: settings.resume,
        ...(settings.image ? { image: settings.image } : {}),
        beforeCanary: beforeCanaryHook((revision) => deployment.start(revision, `canary ${revision.id}`)),
      });
      await deployment.finish(
        report.outcome === "reverted" ? "failure" : "success",
        `${report.revision} ${report.outcome}: ${report.reason}`,
        () => ledgerRevision(openState(config), report.revision),
        github.environmentUrl,
      );
      return report;
    } catch (error) {
      await deployment.finish("failure", errorMessage(error), async () => undefined);
      throw error;
    }
  });
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
