import * as core from "@actions/core";
import { runPipeline } from "../pipeline/run.js";
import { pipelineMarkdown } from "../report/summary.js";
import { actionLogger, configFromInputs, writeReport } from "./common.js";

export async function pipelineAction(): Promise<void> {
  const report = await runPipeline(await configFromInputs(), { logger: actionLogger });
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
