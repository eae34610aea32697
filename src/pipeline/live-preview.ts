// The live part of a preview on a Kubernetes target: the candidate's image as `<name>-pr-<N>`
// (deployed on mode deploy, removed on cleanup), and previews past their expiry swept by any run.
// Best effort beside the evaluation: what fails is said in the notes, the verdict stands.
import type { ModelshipConfig } from "../config/index.js";
import type { RevisionRecord } from "../state/ledger.js";
import { kubectlFor } from "../targets/kubernetes/kubernetes-target.js";
import { deployPreview, removeExpiredPreviews, removePreview } from "../targets/kubernetes/preview.js";
import { errorMessage } from "../util/errors.js";

export interface LivePreview {
  url?: string;
  removed: string[];
  /** PRs whose expired previews this run removed. */
  expired: number[];
  notes: string[];
}

export async function livePreview(
  config: ModelshipConfig,
  request: {
    pullRequest: number;
    mode: "deploy" | "cleanup";
    /** Deploy mode: the candidate, with its image by digest. */
    revision?: RevisionRecord;
    ttlHours: number;
    prUrl?: string;
    now?: Date;
  },
): Promise<LivePreview> {
  const result: LivePreview = { removed: [], expired: [], notes: [] };
  if (config.target.kind !== "kubernetes") return result;
  const target = config.target;
  const kubectl = kubectlFor(target);
  const now = request.now ?? new Date();
  try {
    result.expired = (await removeExpiredPreviews(kubectl, target, now)).filter(
      (pr) => pr !== request.pullRequest,
    );
    if (result.expired.length)
      result.notes.push(`expired previews removed: ${result.expired.map((pr) => `#${pr}`).join(", ")}`);
    if (request.mode === "cleanup") {
      result.removed = await removePreview(kubectl, target, request.pullRequest);
    } else if (request.revision) {
      result.url = await deployPreview(kubectl, target, request.revision, {
        pullRequest: request.pullRequest,
        expiresAt: new Date(now.getTime() + request.ttlHours * 3600_000),
        ...(request.prUrl ? { url: request.prUrl } : {}),
      });
      result.notes.push(
        `live preview ${result.url} (in the cluster, outside the stable traffic path) until ${new Date(now.getTime() + request.ttlHours * 3600_000).toISOString()}`,
      );
    } else {
      result.notes.push(
        "no live preview: give the preview the PR's image (input image, e.g. actions/build's image output) to run it in the cluster",
      );
    }
  } catch (error) {
    result.notes.push(
      `the live preview could not be ${request.mode === "cleanup" ? "removed" : "deployed"}: ${errorMessage(error)}`,
    );
  }
  return result;
}
