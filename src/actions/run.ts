import * as core from "@actions/core";
import { findRunConfig } from "../config/index.js";
import { runPipeline } from "../pipeline/run.js";
import { pipelineMarkdown } from "../report/summary.js";
import { deployParser } from "../settings/deploy.js";
import { fromInputs } from "../settings/sources.js";
import { actionLogger, writeReport } from "./common.js";
import { withKubeconfig } from "./kubeconfig.js";

export async function pipelineAction(): Promise<void> {
  const settings = fromInputs(deployParser, core.getInput, core.setSecret);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const report = await withKubeconfig(settings.kubeconfig, () =>
    runPipeline(config, { logger: actionLogger, resume: settings.resume }),
  );
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
