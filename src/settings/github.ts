// What an action needs to report to GitHub beside its stage's own settings: the token (masked) and
// whether to record GitHub Deployments. Actions only: a terminal has no run to report to.
import type { Fields, RawValues, Stage } from "./fields.js";
import type { Reader } from "./values.js";
import { reader } from "./values.js";

export const GITHUB_FIELDS = {
  "github-token": { type: "string", flag: false },
  // Off where the job declares `environment:` (GitHub records a Deployment itself) or has no token.
  "github-deployments": { type: "string", flag: false },
  // Where users reach the model (a Deployment's environment_url); a preview's own URL wins.
  "environment-url": { type: "string", flag: false },
} as const satisfies Fields;

export interface GitHubSettings {
  /** The token for comments and Deployments; without one nothing is recorded on GitHub. */
  token?: string;
  /** Record GitHub Deployments (default true). */
  deployments: boolean;
  environmentUrl?: string;
}

export function readGitHub(r: Reader): GitHubSettings {
  const token = r.text("github-token");
  const deployments = r.boolean("github-deployments", true);
  const url = r.text("environment-url");
  if (url !== undefined && !/^https?:\/\/[^\s]+$/.test(url))
    throw r.fail("environment-url", `must be an http(s) URL, got ${JSON.stringify(url.slice(0, 80))}`);
  return {
    ...(token !== undefined ? { token } : {}),
    deployments,
    ...(url !== undefined ? { environmentUrl: url } : {}),
  };
}

export const githubSecrets = (values: RawValues): string[] =>
  typeof values["github-token"] === "string" ? [values["github-token"]] : [];

/**
 * A stage's parser with the GitHub fields beside its own, read in one pass (so every input is read
 * before any is refused) and masked with the stage's own secrets.
 */
export function withGitHub<T>(stage: Stage<T>): Stage<{ settings: T; github: GitHubSettings }> {
  return {
    fields: { ...stage.fields, ...GITHUB_FIELDS },
    parse: (values, label) => {
      const github = readGitHub(reader(values, label));
      return { settings: stage.parse(values, label), github };
    },
    secrets: (values) => [...githubSecrets(values), ...(stage.secrets?.(values) ?? [])],
  };
}
