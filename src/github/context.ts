// Where a run is, read from the runner's environment and the event payload (GITHUB_EVENT_PATH). The
// payload is data from outside: only the fields used are read, each checked, so a hostile or
// truncated payload gives a clear error or an absent value, never a crash deeper in.
import { z } from "zod";
import { readRegularFileSync } from "../util/regular-file.js";

// GitHub caps webhook payloads at 25 MB.
const MAX_EVENT_BYTES = 64 * 1024 * 1024;

export interface RepoRef {
  owner: string;
  repo: string;
}

export interface PullRequestRef {
  number: number;
  baseSha: string;
  baseRef: string;
  headSha: string;
  headRef: string;
  /** The head is in another repository: the token is read-only and secrets are absent. */
  fork: boolean;
  /** "owner/name" of the head repository, for notices. */
  headRepo: string;
}

export interface RunContext {
  eventName: string;
  repo?: RepoRef;
  sha?: string;
  ref?: string;
  actor?: string;
  /** The run's page, for log_url and the ledger's "who and why". */
  runUrl?: string;
  apiUrl: string;
  pullRequest?: PullRequestRef;
  /** The closed PR's action ("closed") and the like. */
  action?: string;
}

const sha = z.string().regex(/^[0-9a-f]{40}$/i);
const pullRequestSchema = z.object({
  number: z.number().int().positive(),
  base: z.object({
    sha,
    ref: z.string(),
    repo: z.object({ full_name: z.string() }).nullish(),
  }),
  head: z.object({
    sha,
    ref: z.string(),
    // The head repository is null when the fork was deleted.
    repo: z.object({ full_name: z.string(), fork: z.boolean().optional() }).nullish(),
  }),
});
const eventSchema = z.object({
  action: z.string().optional(),
  pull_request: z.unknown().optional(),
});

/** The pull request of a payload, or undefined; a payload claiming one that is malformed is refused. */
export function pullRequestOf(payload: unknown): PullRequestRef | undefined {
  const event = eventSchema.safeParse(payload);
  if (!event.success || event.data.pull_request === undefined) return undefined;
  const parsed = pullRequestSchema.safeParse(event.data.pull_request);
  if (!parsed.success)
    throw new Error(`the event's pull_request is not as GitHub sends it: ${parsed.error.issues[0]?.message}`);
  const pr = parsed.data;
  const base = pr.base.repo?.full_name;
  const head = pr.head.repo?.full_name;
  return {
    number: pr.number,
    baseSha: pr.base.sha.toLowerCase(),
    baseRef: pr.base.ref,
    headSha: pr.head.sha.toLowerCase(),
    headRef: pr.head.ref,
    fork: head === undefined || (base !== undefined && head !== base),
    headRepo: head ?? "(deleted fork)",
  };
}

/** The run's context from `env` (process.env on a runner). */
export function readRunContext(env: NodeJS.ProcessEnv = process.env): RunContext {
  let payload: unknown = {};
  if (env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(
        readRegularFileSync(env.GITHUB_EVENT_PATH, { maxBytes: MAX_EVENT_BYTES }).toString("utf8"),
      );
    } catch (error) {
      throw new Error(`GITHUB_EVENT_PATH ${env.GITHUB_EVENT_PATH} is not a readable JSON event: ${error}`);
    }
  }
  const [owner, repo, ...rest] = (env.GITHUB_REPOSITORY ?? "").split("/");
  const server = (env.GITHUB_SERVER_URL ?? "https://github.com").replace(/\/+$/, "");
  const repoRef = owner && repo && rest.length === 0 ? { owner, repo } : undefined;
  const runUrl =
    repoRef && env.GITHUB_RUN_ID && /^\d+$/.test(env.GITHUB_RUN_ID)
      ? `${server}/${repoRef.owner}/${repoRef.repo}/actions/runs/${env.GITHUB_RUN_ID}${
          env.GITHUB_RUN_ATTEMPT && /^\d+$/.test(env.GITHUB_RUN_ATTEMPT)
            ? `/attempts/${env.GITHUB_RUN_ATTEMPT}`
            : ""
        }`
      : undefined;
  const pullRequest = pullRequestOf(payload);
  const action = eventSchema.safeParse(payload);
  return {
    eventName: env.GITHUB_EVENT_NAME ?? "",
    ...(repoRef ? { repo: repoRef } : {}),
    ...(env.GITHUB_SHA ? { sha: env.GITHUB_SHA } : {}),
    ...(env.GITHUB_REF ? { ref: env.GITHUB_REF } : {}),
    ...(env.GITHUB_ACTOR ? { actor: env.GITHUB_ACTOR } : {}),
    ...(runUrl ? { runUrl } : {}),
    apiUrl: (env.GITHUB_API_URL ?? "https://api.github.com").replace(/\/+$/, ""),
    ...(pullRequest ? { pullRequest } : {}),
    ...(action.success && action.data.action ? { action: action.data.action } : {}),
  };
}

/** The environment a run deploys to: production, or a PR's own preview. */
export const previewEnvironment = (pr: number) => `preview/pr-${pr}`;
export const PRODUCTION = "production";
