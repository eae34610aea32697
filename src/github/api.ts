// The GitHub REST calls modelship makes, behind a narrow interface: issue comments and Deployments.
// The only user of @actions/github. Server errors (5xx) and dropped connections are retried with a
// short backoff, then thrown as a GitHubApiError naming the call; responses are checked for the
// fields used before anything relies on them (an API answer is data from outside).
import { getOctokit } from "@actions/github";
import { z } from "zod";
import type { RepoRef } from "./context.js";

export class GitHubApiError extends Error {
  constructor(
    readonly call: string,
    /** The HTTP status; 0 when no answer came. */
    readonly status: number,
    detail: string,
    readonly attempts = 1,
  ) {
    super(
      `GitHub API ${call} failed${status ? ` with HTTP ${status}` : ""}${attempts > 1 ? ` after ${attempts} attempts` : ""}: ${detail}`,
    );
    this.name = "GitHubApiError";
  }

  /** The token may not do this (a read-only token, a fork's, one without the permission). */
  get forbidden(): boolean {
    return this.status === 401 || this.status === 403 || this.status === 404;
  }
}

export interface IssueComment {
  id: number;
  body: string;
  /** The author's login, when GitHub says. */
  author?: string;
  url?: string;
}

export interface DeploymentRef {
  id: number;
  environment: string;
}

export type DeploymentState = "in_progress" | "success" | "failure" | "error" | "inactive";

export interface GitHubApi {
  listComments(issue: number): Promise<IssueComment[]>;
  createComment(issue: number, body: string): Promise<IssueComment>;
  updateComment(id: number, body: string): Promise<IssueComment>;
  createDeployment(input: {
    ref: string;
    environment: string;
    description: string;
    payload: Record<string, string>;
    transient: boolean;
    production: boolean;
  }): Promise<DeploymentRef>;
  listDeployments(environment: string): Promise<DeploymentRef[]>;
  createDeploymentStatus(
    id: number,
    status: { state: DeploymentState; description?: string; environmentUrl?: string; logUrl?: string },
  ): Promise<void>;
}

export interface RetryPolicy {
  attempts: number;
  /** The first wait; doubled each time. */
  delayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, delayMs: 1000 };

const commentSchema = z.object({
  id: z.number().int().positive(),
  body: z.string().nullish(),
  user: z.object({ login: z.string() }).nullish(),
  html_url: z.string().optional(),
});
const deploymentSchema = z.object({ id: z.number().int().positive(), environment: z.string() });

const toComment = (data: unknown, call: string): IssueComment => {
  const c = checked(commentSchema, data, call);
  return {
    id: c.id,
    body: c.body ?? "",
    ...(c.user?.login ? { author: c.user.login } : {}),
    ...(c.html_url ? { url: c.html_url } : {}),
  };
};

function checked<T>(schema: z.ZodType<T>, data: unknown, call: string): T {
  const parsed = schema.safeParse(data);
  if (!parsed.success)
    throw new GitHubApiError(call, 0, `unexpected answer: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Runs `request`, retrying server errors and dropped connections; anything else fails at once. */
export async function withRetry<T>(
  call: string,
  request: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (error instanceof GitHubApiError && error.status === 0) throw error;
      const status =
        typeof (error as { status?: unknown }).status === "number" ? (error as { status: number }).status : 0;
      const retriable = status === 0 || status >= 500;
      const detail = (error as Error).message ?? String(error);
      if (!retriable || attempt >= policy.attempts)
        throw new GitHubApiError(call, status, detail.split("\n")[0] ?? detail, attempt);
      await sleep(policy.delayMs * 2 ** (attempt - 1));
    }
  }
}

/** The REST API for one repository through @actions/github's Octokit. */
export function gitHubApi(
  token: string,
  repo: RepoRef,
  options: { baseUrl: string; retry?: RetryPolicy },
): GitHubApi {
  // No retry plugin in the Octokit of @actions/github: withRetry is the only retrying layer.
  const octokit = getOctokit(token, { baseUrl: options.baseUrl, request: { retries: 0 } });
  const retry = <T>(call: string, request: () => Promise<T>) => withRetry(call, request, options.retry);
  const rest = octokit.rest;
  return {
    async listComments(issue) {
      const call = `GET issue #${issue} comments`;
      const data = await retry(call, () =>
        octokit.paginate(rest.issues.listComments, { ...repo, issue_number: issue, per_page: 100 }),
      );
      if (!Array.isArray(data)) throw new GitHubApiError(call, 0, "unexpected answer: not a list");
      return data.map((c) => toComment(c, call));
    },
    async createComment(issue, body) {
      const call = `POST issue #${issue} comment`;
      const { data } = await retry(call, () =>
        rest.issues.createComment({ ...repo, issue_number: issue, body }),
      );
      return toComment(data, call);
    },
    async updateComment(id, body) {
      const call = `PATCH comment ${id}`;
      const { data } = await retry(call, () => rest.issues.updateComment({ ...repo, comment_id: id, body }));
      return toComment(data, call);
    },
    async createDeployment(input) {
      const call = `POST deployment (${input.environment})`;
      const { data, status } = await retry(call, () =>
        rest.repos.createDeployment({
          ...repo,
          ref: input.ref,
          environment: input.environment,
          description: input.description,
          payload: input.payload,
          transient_environment: input.transient,
          production_environment: input.production,
          // modelship's own gates decide; commit statuses must not block recording what happened.
          required_contexts: [],
          auto_merge: false,
        }),
      );
      // 202: GitHub merged the default branch instead of deploying (auto_merge is off, so unexpected).
      if (status !== 201) throw new GitHubApiError(call, status, "no deployment was created");
      return checked(deploymentSchema, data, call);
    },
    async listDeployments(environment) {
      const call = `GET deployments (${environment})`;
      const data = await retry(call, () =>
        octokit.paginate(rest.repos.listDeployments, { ...repo, environment, per_page: 100 }),
      );
      if (!Array.isArray(data)) throw new GitHubApiError(call, 0, "unexpected answer: not a list");
      return data.map((d) => checked(deploymentSchema, d, call));
    },
    async createDeploymentStatus(id, status) {
      const call = `POST deployment ${id} status ${status.state}`;
      await retry(call, () =>
        rest.repos.createDeploymentStatus({
          ...repo,
          deployment_id: id,
          state: status.state,
          ...(status.description ? { description: status.description.slice(0, 140) } : {}),
          ...(status.environmentUrl ? { environment_url: status.environmentUrl } : {}),
          ...(status.logUrl ? { log_url: status.logUrl } : {}),
          // A newer success or inactive makes the earlier ones of this environment inactive.
          ...(status.state === "success" || status.state === "inactive" ? { auto_inactive: true } : {}),
        }),
      );
    },
  };
}
