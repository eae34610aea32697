// The sticky pull-request comment: one per PR and model, found again by a hidden marker on its
// first line, updated on every push, never duplicated.
import type { GitHubApi, IssueComment } from "./api.js";

/** An HTML comment GitHub does not render; one per model, so two models in a repository keep two comments. */
export const commentMarker = (model: string) =>
  `<!-- modelship-preview:${model.replace(/[^A-Za-z0-9._-]/g, "_")} -->`;

/** The body with its marker as the first line (what `findSticky` looks for). */
export const withMarker = (marker: string, body: string) => `${marker}\n${body}`;

/**
 * The comment this marker names: its first line is the marker (a reply quoting it starts with
 * "> "). The oldest wins if a race ever left two.
 */
export function findSticky(comments: readonly IssueComment[], marker: string): IssueComment | undefined {
  return comments.filter((c) => c.body.split("\n", 1)[0]?.trim() === marker).sort((a, b) => a.id - b.id)[0];
}

/** The body without its marker line: what a later update may keep of it. */
export const withoutMarker = (body: string) => body.split("\n").slice(1).join("\n");

/** Creates the comment, or updates the one found by its marker; returns it with whether it was new. */
export async function upsertSticky(
  api: GitHubApi,
  issue: number,
  marker: string,
  body: string | ((previous?: IssueComment) => string),
): Promise<{ comment: IssueComment; created: boolean }> {
  const existing = findSticky(await api.listComments(issue), marker);
  const text = withMarker(marker, typeof body === "function" ? body(existing) : body);
  if (existing) return { comment: await api.updateComment(existing.id, text), created: false };
  return { comment: await api.createComment(issue, text), created: true };
}
