// The words a failed push uses about its tags, and the cancellation errors the registry client raises.
import { describe, expect, it } from "vitest";
import { isRetryableError } from "../../src/image/registry/client.js";
import { CancelledError, isCancellation } from "../../src/image/registry/errors.js";
import {
  describeTagUpdates,
  PushError,
  type TagUpdate,
  tagsAtDigest,
  tagsNotMoved,
} from "../../src/image/remote.js";
import { tagRows } from "../../src/report/tags.js";

const D = `sha256:${"a".repeat(64)}`;
const OLD = `sha256:${"b".repeat(64)}`;
const result = { uploaded: 0, mounted: 0, skipped: 0, bytesUploaded: 0 };

describe("tag updates", () => {
  const updates: TagUpdate[] = [
    { tag: "v2", status: "moved", digest: D },
    { tag: "stable", status: "moved", digest: D, previous: OLD },
    { tag: "same", status: "unchanged", digest: D, previous: D },
    // A failed tag's digest is what the registry answered when asked after the failure.
    { tag: "latest", status: "failed", digest: OLD, previous: OLD, error: "HTTP 500" },
    { tag: "fresh", status: "failed", error: "HTTP 500" },
    { tag: "later", status: "not-attempted" },
  ];
  const OTHER = `sha256:${"c".repeat(64)}`;
  const elsewhere: TagUpdate[] = [
    { tag: "raced", status: "failed", digest: OTHER, previous: OLD, error: "HTTP 500" },
    {
      tag: "unsure",
      status: "failed",
      previous: OLD,
      error: "HTTP 500",
      checkError: "HEAD failed with HTTP 503",
    },
    { tag: "unsure-new", status: "failed", error: "HTTP 500", checkError: "timed out" },
    { tag: "deleted", status: "failed", previous: OLD, error: "HTTP 500" },
  ];

  it("says which moved (from what) and which did not (still at what)", () => {
    expect(describeTagUpdates(D, updates)).toBe(
      `moved to ${D}: v2 (new), stable (was ${OLD}), same (already there); not moved: latest (still ${OLD}), fresh (not created), later (not tried)`,
    );
    expect(describeTagUpdates(D, [{ tag: "v1", status: "not-attempted" }])).toBe(
      "no tag was moved; not moved: v1 (not tried)",
    );
    expect(tagsAtDigest(updates)).toEqual(["v2", "stable", "same"]);
    expect(tagsNotMoved(updates)).toEqual(["latest", "fresh", "later"]);
  });

  it("a failed tag: where the check after the failure found it (another digest, gone), or unknown when it failed", () => {
    expect(describeTagUpdates(D, elsewhere)).toBe(
      `no tag was moved; not moved: raced (now ${OTHER}, was ${OLD}), unsure (where it points now is unknown: HEAD failed with HTTP 503, was ${OLD}), unsure-new (where it points now is unknown: timed out), deleted (gone, was ${OLD})`,
    );
    expect(tagRows(elsewhere)).toEqual([
      ["raced", "✘ not moved: HTTP 500", OTHER, OLD],
      ["unsure", "✘ not moved: HTTP 500", "unknown", OLD],
      ["unsure-new", "✘ not moved: HTTP 500", "unknown", "(none)"],
      ["deleted", "✘ not moved: HTTP 500", "(none)", OLD],
    ]);
  });

  it("PushError: the registry's error first, then where the image is and the tags", () => {
    const cause = new Error("push manifest latest failed with HTTP 500");
    const error = new PushError(D, "r.example/acme/iris", updates.slice(0, 4), true, result, cause);
    expect(error.message).toBe(
      `push manifest latest failed with HTTP 500; the image is complete in the registry as r.example/acme/iris@${D}; moved to ${D}: v2 (new), stable (was ${OLD}), same (already there); not moved: latest (still ${OLD}); pushing again finishes it`,
    );
    expect(error.cause).toBe(cause);
    // No tags asked for: nothing said about tags.
    expect(new PushError(D, "r/x", [], false, result, new Error("blob failed")).message).toBe(
      "blob failed; pushing again finishes it",
    );
  });

  it("one table row per tag: now and before", () => {
    expect(tagRows(updates)).toEqual([
      ["v2", "✔ moved", D, "(none)"],
      ["stable", "✔ moved", D, OLD],
      ["same", "✔ already there", D, D],
      ["latest", "✘ not moved: HTTP 500", OLD, OLD],
      ["fresh", "✘ not moved: HTTP 500", "(none)", "(none)"],
      ["later", "✘ not moved (not tried)", "?", "?"],
    ]);
  });
});

describe("cancellation", () => {
  it("is never retried, and says why when the reason does", () => {
    const aborted = Object.assign(new Error("The operation was aborted"), {
      name: "AbortError",
      code: "ABORT_ERR",
    });
    expect(isRetryableError(aborted)).toBe(false);
    expect(isCancellation(aborted)).toBe(true);
    expect(isRetryableError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))).toBe(true);
    expect(new CancelledError("push to r/x", new Error("interrupted by SIGINT")).message).toBe(
      "push to r/x was cancelled (interrupted by SIGINT)",
    );
    const controller = new AbortController();
    controller.abort();
    expect(new CancelledError("upload", controller.signal.reason).message).toBe("upload was cancelled");
  });
});
