import { type GitHubApi, gitHubApi } from "../github/api.js";
import { PRODUCTION, type RunContext } from "../github/context.js";
import { type DeploymentPayload, type DeploymentRecorder, startDeployment } from "../github/deployments.js";
import type { GitHubSettings } from "../settings/github.js";
import type { RevisionRecord } from "../state/ledger.js";
import type { LedgerStore } from "../state/store.js";
import type { Logger } from "../util/log.js";

/** The API for this run's repository, when there is a token and a repository to talk to. */
export function apiOf(github: GitHubSettings, context: RunContext): GitHubApi | undefined {
  if (!github.token || !context.repo) return undefined;
  return gitHubApi(github.token, context.repo, { baseUrl: context.apiUrl });
}

/** The Deployments API, unless turned off. */
export const deploymentsApi = (github: GitHubSettings, context: RunContext) =>
  github.deployments ? apiOf(github, context) : undefined;

/** A revision as a Deployment's payload: revision id, image by digest, model digest. */
export const payloadOf = (revision: Pick<RevisionRecord, "id" | "image" | "model">): DeploymentPayload => ({
  revision: revision.id,
  ...(revision.image ? { image: revision.image } : {}),
  modelDigest: revision.model.digest,
});

/** The ref a Deployment is recorded for: the commit of the run. */
export const refOf = (context: RunContext) => context.sha ?? context.ref ?? "HEAD";

/**
 * The production Deployment of a deploy, whole pipeline or rollback: created when the revision is
 * known (before its canary starts, or after a first deployment), finished with the outcome.
 */
export function productionDeployment(api: GitHubApi | undefined, context: RunContext, logger: Logger) {
  let recorder: DeploymentRecorder | undefined;
  const start = async (revision: RevisionRecord, description: string) => {
    recorder = await startDeployment(
      api,
      {
        environment: PRODUCTION,
        ref: refOf(context),
        description,
        payload: payloadOf(revision),
        ...(context.runUrl ? { logUrl: context.runUrl } : {}),
      },
      logger,
    );
    return recorder.id;
  };
  return {
    start,
    /** Records the outcome; creates the Deployment first when nothing started one. */
    async finish(
      state: "success" | "failure",
      description: string,
      revision: () => Promise<RevisionRecord | undefined>,
      environmentUrl?: string,
    ): Promise<void> {
      if (!api) return;
      if (!recorder) {
        const found = await revision().catch(() => undefined);
        if (!found) return;
        await start(found, description);
      }
      await recorder?.status(state, { description, ...(environmentUrl ? { environmentUrl } : {}) });
    },
  };
}

/** A revision of the ledger by id, for a Deployment's payload. */
export async function ledgerRevision(state: LedgerStore, id: string): Promise<RevisionRecord | undefined> {
  return (await state.read()).revisions.find((r) => r.id === id);
}
