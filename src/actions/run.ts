import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import { readRunContext } from "../github/context.js";
import { runPipeline } from "../pipeline/run.js";
import { pipelineMarkdown } from "../report/summary.js";
import { deployParser, refuseImage } from "../settings/deploy.js";
import { withGitHub } from "../settings/github.js";
import { fromInputs } from "../settings/sources.js";
import { openState } from "../targets/open.js";
import { errorMessage } from "../util/errors.js";
import { beforeCanaryHook } from "./cancel.js";
import { actionLogger, writeReport } from "./common.js";
import { deploymentsApi, ledgerRevision, productionDeployment } from "./github.js";
import { withKubeconfig } from "./kubeconfig.js";

export async function pipelineAction(): Promise<void> {
  const { settings, github } = fromInputs(withGitHub(deployParser), core.getInput, core.setSecret);
  if (settings.image) refuseImage("input image");
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const context = readRunContext();
  const deployment = productionDeployment(deploymentsApi(github, context), context, actionLogger);
  const report = await withKubeconfig(settings.kubeconfig, async () => {
    try {
      const report = await runPipeline(config, {
        logger: actionLogger,
        resume: settings.resume,
        beforeCanary: beforeCanaryHook((revision) => deployment.start(revision, `canary ${revision.id}`)),
      });
      // A rejected model was never deployed: no Deployment to record.
      if (report.deploy) {
        const revision = report.deploy.revision;
        await deployment.finish(
          report.outcome === "reverted" ? "failure" : "success",
          `${revision} ${report.outcome}: ${report.deploy.reason}`,
          () => ledgerRevision(openState(config), revision),
          github.environmentUrl,
        );
      }
      return report;
    } catch (error) {
      await deployment.finish("failure", errorMessage(error), async () => undefined);
      throw error;
    }
  });
  core.setOutput("outcome", report.outcome);
  core.setOutput("digest", report.model.digest);
  core.setOutput("revision", report.deploy?.revision ?? "");
  core.setOutput("image", report.build?.image ?? "");
  core.setOutput("report", await writeReport("pipeline", report));
  await core.summary.addRaw(pipelineMarkdown(report), true).write();
  if (report.outcome === "rejected")
    core.setFailed(`the model was rejected (${report.reason}); nothing was built or deployed`);
  if (report.outcome === "reverted") core.setFailed(`the canary was reverted: ${report.deploy?.reason}`);
}
