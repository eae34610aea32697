// The live part of a preview on a Kubernetes target: the candidate's image as `<name>-pr-<N>`
// (deployed on mode deploy, removed on cleanup), and previews past their expiry swept by any run.
// Best effort beside the evaluation: what fails is said in the notes, the verdict stands (unless
// the evaluation had to go through the live preview, see preview.ts).
import type { ModelshipConfig } from "../config/index.js";
import type { RevisionRecord } from "../state/ledger.js";
import { kubectlFor } from "../targets/kubernetes/kubernetes-target.js";
import {
  deployPreview,
  type PreviewAccess,
  removeExpiredPreviews,
  removePreview,
} from "../targets/kubernetes/preview.js";
import { errorMessage } from "../util/errors.js";

export interface LivePreview {
  pullRequest?: number;
  url?: string;
  /** How the running preview is reached (its URL, the header of a shared route, in a sentence). */
  access?: PreviewAccess;
  /** The revision now running as the preview (deploy mode, once it is ready). */
  running?: RevisionRecord;
  removed: string[];
  /** PRs whose expired previews this run removed. */
  expired: number[];
  notes: string[];
}

export interface LivePreviewRequest {
  pullRequest: number;
  mode: "deploy" | "cleanup";
  /** Deploy mode: the candidate, with its image by digest. */
  revision?: RevisionRecord;
  /** Deploy mode without a revision: why there is none (else: no image was given). */
  skipped?: string;
  ttlHours: number;
  prUrl?: string;
  now?: Date;
}

export async function livePreview(
  config: ModelshipConfig,
  request: LivePreviewRequest,
): Promise<LivePreview> {
  const result: LivePreview = { pullRequest: request.pullRequest, removed: [], expired: [], notes: [] };
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
      const until = new Date(now.getTime() + request.ttlHours * 3600_000);
      result.access = await deployPreview(kubectl, target, request.revision, {
        pullRequest: request.pullRequest,
        expiresAt: until,
        ...(request.prUrl ? { url: request.prUrl } : {}),
      });
      result.url = result.access.url;
      result.running = request.revision;
      result.notes.push(
        `live preview (in the cluster, outside the stable traffic path) until ${until.toISOString()}: ${result.access.how}`,
      );
    } else {
      result.notes.push(
        request.skipped ??
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
