// GitHub Deployments for what modelship deploys: one per deploy, preview and rollback, for the
// environment `production` or `preview/pr-<N>`, with statuses in_progress → success | failure, and
// inactive when a preview is cleaned up. Recording is best effort: a token without
// `deployments: write` (a fork's, or a workflow that did not grant it) gives a warning and the
// deploy goes on; a GitHub outage is retried, then reported as a warning too.
import type { Logger } from "../util/log.js";
import { type DeploymentState, type GitHubApi, GitHubApiError } from "./api.js";
import { PRODUCTION } from "./context.js";

/** What a deployment's payload says: enough to find the revision again from GitHub's side. */
export interface DeploymentPayload {
  revision?: string;
  image?: string;
  modelDigest?: string;
}

export interface DeploymentRecorder {
  /** The deployment's id, once created (undefined when off or refused). */
  readonly id?: number;
  status(state: DeploymentState, detail?: { description?: string; environmentUrl?: string }): Promise<void>;
}

export interface DeploymentStart {
  environment: string;
  ref: string;
  description: string;
  payload: DeploymentPayload;
  logUrl?: string;
}

/** Why recording failed, as one warning line; rethrows what is not GitHub's answer. */
export function warningOf(error: unknown, what: string): string {
  if (!(error instanceof GitHubApiError)) throw error;
  if (error.forbidden) {
    return `${what} skipped: the token may not do it (HTTP ${error.status}); grant \`deployments: write\` (and \`pull-requests: write\` for comments) in the workflow's permissions, or set github-deployments: false`;
  }
  return `${what} not recorded: ${error.message}`;
}

const noop = (): DeploymentRecorder => ({ status: async () => {} });

/**
 * Creates the deployment and marks it in_progress. Without an API (turned off, no token) or when
 * GitHub refuses, returns a recorder that does nothing, after one warning.
 */
export async function startDeployment(
  api: GitHubApi | undefined,
  start: DeploymentStart,
  logger: Logger,
): Promise<DeploymentRecorder> {
  if (!api) return noop();
  let id: number;
  try {
    const payload = Object.fromEntries(
      Object.entries(start.payload).filter((e): e is [string, string] => typeof e[1] === "string"),
    );
    id = (
      await api.createDeployment({
        ref: start.ref,
        environment: start.environment,
        description: start.description,
        payload,
        transient: start.environment !== PRODUCTION,
        production: start.environment === PRODUCTION,
      })
    ).id;
    await api.createDeploymentStatus(id, {
      state: "in_progress",
      ...(start.logUrl ? { logUrl: start.logUrl } : {}),
    });
  } catch (error) {
    logger.warn(warningOf(error, `GitHub Deployment for ${start.environment}`));
    return noop();
  }
  let broken = false;
  return {
    id,
    async status(state, detail = {}) {
      if (broken) return;
      try {
        await api.createDeploymentStatus(id, {
          state,
          ...detail,
          ...(start.logUrl ? { logUrl: start.logUrl } : {}),
        });
      } catch (error) {
        broken = true;
        logger.warn(warningOf(error, `GitHub Deployment ${id} status ${state}`));
      }
    },
  };
}

/** A recorder for a deployment created by an earlier step (the post step's, from saved state). */
export function resumeDeployment(
  api: GitHubApi | undefined,
  id: number | undefined,
  logUrl: string | undefined,
  logger: Logger,
): DeploymentRecorder {
  if (!api || id === undefined) return noop();
  return {
    id,
    async status(state, detail = {}) {
      try {
        await api.createDeploymentStatus(id, { state, ...detail, ...(logUrl ? { logUrl } : {}) });
      } catch (error) {
        logger.warn(warningOf(error, `GitHub Deployment ${id} status ${state}`));
      }
    },
  };
}

/** Marks every deployment of an environment inactive (a closed PR's preview); returns how many. */
export async function deactivateEnvironment(
  api: GitHubApi | undefined,
  environment: string,
  logger: Logger,
  logUrl?: string,
): Promise<number> {
  if (!api) return 0;
  try {
    const deployments = await api.listDeployments(environment);
    for (const d of deployments) {
      if (d.environment !== environment) continue;
      await api.createDeploymentStatus(d.id, {
        state: "inactive",
        description: "pull request closed; preview removed",
        ...(logUrl ? { logUrl } : {}),
      });
    }
    return deployments.length;
  } catch (error) {
    logger.warn(warningOf(error, `marking ${environment} inactive`));
    return 0;
  }
}
