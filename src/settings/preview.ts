// preview: a pull request's model evaluated against production (mode deploy), or its preview
// removed when the PR closes (mode cleanup).
import type { Label } from "./errors.js";
import type { Fields, RawValues, Stage } from "./fields.js";
import { GITHUB_FIELDS, type GitHubSettings, githubSecrets, readGitHub } from "./github.js";
import {
  CONFIG_FIELDS,
  type ConfigLocator,
  KUBECONFIG_FIELD,
  kubeconfigOf,
  kubeconfigSecrets,
  readConfigLocator,
} from "./locator.js";
import { reader } from "./values.js";

export const PREVIEW_MODES = ["deploy", "cleanup"] as const;
export type PreviewMode = (typeof PREVIEW_MODES)[number];

export const PREVIEW_FIELDS = {
  mode: { type: "string" },
  ...CONFIG_FIELDS,
  // The PR (default: the event's); for the workflow_run pattern, where the event is not the PR's.
  "pull-request": { type: "string" },
  // The commit whose model stands for production when the ledger has none reachable (default: the PR's base).
  "base-sha": { type: "string", flag: "base" },
  // Kubernetes: the PR's image (by digest) runs as the live preview <name>-pr-<N>, for ttl-hours.
  image: { type: "string" },
  "ttl-hours": { type: "string" },
  comment: { type: "string", flag: false },
  "fail-on-regression": { type: "string", flag: false },
  ...KUBECONFIG_FIELD,
  ...GITHUB_FIELDS,
} as const satisfies Fields;

export interface PreviewSettings {
  mode: PreviewMode;
  locator: ConfigLocator;
  pullRequest?: number;
  baseSha?: string;
  /** The PR's image, repository@sha256:…, for the Kubernetes live preview. */
  image?: string;
  /** How long the live preview lives after its last push (default 72). */
  ttlHours: number;
  /** Write the sticky PR comment (default true). */
  comment: boolean;
  /** Fail the step when the candidate would not pass the production gates (default true). */
  failOnRegression: boolean;
  kubeconfig?: string;
  github: GitHubSettings;
}

export function parsePreviewSettings(values: RawValues, label: Label): PreviewSettings {
  const r = reader(values, label);
  const mode = r.oneOf("mode", PREVIEW_MODES, "deploy");
  const locator = readConfigLocator(r, label);
  const pullRequest = r.number("pull-request", { min: 1, max: 2 ** 31 - 1, integer: true });
  const baseSha = r.text("base-sha");
  if (baseSha !== undefined && !/^[0-9a-f]{7,40}$/i.test(baseSha))
    throw r.fail("base-sha", `must be a commit sha, got ${JSON.stringify(baseSha.slice(0, 60))}`);
  const image = r.text("image");
  if (image !== undefined && !/^[^\s@]+@sha256:[0-9a-f]{64}$/.test(image))
    throw r.fail(
      "image",
      `must name an image by digest (repository@sha256:…), got ${JSON.stringify(image.slice(0, 120))}`,
    );
  const ttlHours = r.number("ttl-hours", { min: 1, max: 24 * 90 }) ?? 72;
  return {
    mode,
    locator,
    ...(image !== undefined ? { image } : {}),
    ttlHours,
    ...(pullRequest !== undefined ? { pullRequest } : {}),
    ...(baseSha !== undefined ? { baseSha: baseSha.toLowerCase() } : {}),
    comment: r.boolean("comment", true),
    failOnRegression: r.boolean("fail-on-regression", true),
    ...kubeconfigOf(r),
    github: readGitHub(r),
  };
}

export const previewParser: Stage<PreviewSettings> = {
  fields: PREVIEW_FIELDS,
  parse: parsePreviewSettings,
  secrets: (values) => [...githubSecrets(values), ...kubeconfigSecrets(values)],
};
