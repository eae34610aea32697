// Revert on cancel. The deploy and whole-pipeline actions save, before their canary can take any
// traffic, what a revert needs (core.saveState); their post step (runs.post, post-if always())
// reverts that canary if the main step left it unfinished: cancelled (the runner's SIGINT, SIGTERM,
// then kill), or died. A canary that is no longer this run's is left alone.
import * as core from "@actions/core";
import { z } from "zod";
import { findRunConfig } from "../config/index.js";
import { readRunContext } from "../github/context.js";
import { resumeDeployment } from "../github/deployments.js";
import { revertUnfinishedCanary, type StartedCanary } from "../pipeline/cancel.js";
import type { DeployOptions } from "../pipeline/deploy.js";
import { deployParser } from "../settings/deploy.js";
import { withGitHub } from "../settings/github.js";
import { fromInputs } from "../settings/sources.js";
import { actionLogger } from "./common.js";
import { deploymentsApi } from "./github.js";
import { withKubeconfig } from "./kubeconfig.js";

const STATE = "canary";

const savedSchema = z.object({
  revision: z.string(),
  owner: z.object({ pid: z.number().int().positive(), host: z.string() }),
  deployment: z.number().int().positive().optional(),
});
type Saved = StartedCanary & { deployment?: number };

/** Saves the canary about to start (and its GitHub Deployment) for the post step. */
export function saveStartedCanary(saved: Saved): void {
  core.saveState(STATE, JSON.stringify(saved));
}

/** The beforeCanary hook of an action: creates the Deployment, then saves the state. */
export function beforeCanaryHook(
  startDeployment: (
    revision: Parameters<NonNullable<DeployOptions["beforeCanary"]>>[0]["revision"],
  ) => Promise<number | undefined>,
): NonNullable<DeployOptions["beforeCanary"]> {
  return async ({ revision, owner }) => {
    const deployment = await startDeployment(revision);
    saveStartedCanary({ revision: revision.id, owner, ...(deployment !== undefined ? { deployment } : {}) });
  };
}

/** The post step of deploy and run. */
export async function revertOnCancelAction(): Promise<void> {
  const raw = core.getState(STATE);
  if (!raw) {
    core.info("modelship: no canary was started by the main step; nothing to revert");
    return;
  }
  const parsed = savedSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw new Error(`the saved state of the main step is damaged: ${raw.slice(0, 200)}`);
  const saved = parsed.data;
  const { settings, github } = fromInputs(withGitHub(deployParser), core.getInput, core.setSecret);
  const config = await findRunConfig(settings.locator, settings.locator.labels);
  const context = readRunContext();
  const outcome = await withKubeconfig(settings.kubeconfig, () =>
    revertUnfinishedCanary(
      config,
      saved,
      `the workflow was cancelled or its main step died${context.runUrl ? ` (${context.runUrl})` : ""}; reverted by the post step`,
      actionLogger,
    ),
  );
  if (!outcome.reverted) {
    core.info(`modelship: ${outcome.reason}`);
    return;
  }
  core.warning(`canary ${saved.revision} was left unfinished by the main step; reverted to stable`);
  core.setOutput("outcome", "reverted");
  await resumeDeployment(
    deploymentsApi(github, context),
    saved.deployment,
    context.runUrl,
    actionLogger,
  ).status("failure", { description: `cancelled: canary ${saved.revision} reverted by the post step` });
  await core.summary
    .addHeading(`modelship: canary ${saved.revision} reverted after the run was cancelled`, 2)
    .addRaw(`${outcome.reason}. All traffic is back on the stable revision.`, true)
    .write();
}
