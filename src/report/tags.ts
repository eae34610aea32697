// The tags of a push as a table (job summary, terminal): where each one points now and before, and
// the ones a failed push left behind, with why.
import type { TagUpdate } from "../image/remote.js";
import type { Cell } from "../util/table.js";

export const tagHeaders = ["tag", "result", "points at", "before"];

const STATUS: Record<TagUpdate["status"], string> = {
  moved: "✔ moved",
  unchanged: "✔ already there",
  failed: "✘ not moved",
  "not-attempted": "✘ not moved (not tried)",
};

/** One row per tag; `code` wraps digests for Markdown. */
export function tagRows(updates: readonly TagUpdate[], code = (s: string) => s): Cell[][] {
  return updates.map((u) => {
    const before =
      u.previous !== undefined ? code(u.previous) : u.status === "not-attempted" ? "?" : "(none)";
    // A failed tag: what the registry answered when asked after the failure, "unknown" when that
    // check failed too.
    const now =
      u.digest !== undefined
        ? code(u.digest)
        : u.status === "failed"
          ? u.checkError !== undefined
            ? "unknown"
            : "(none)"
          : "?";
    const result = u.status === "failed" && u.error ? `${STATUS.failed}: ${u.error}` : STATUS[u.status];
    return [u.tag, result, now, before];
  });
}
