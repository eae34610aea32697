// A revision is its digest: the files at the path the ledger recorded must still be the model that
// was validated and recorded under that revision before anything runs them again. Files replaced
// at that path (a new model written over the old one, a checkout of another commit) are another
// model, which no gate ever judged.
//
// The digest is computed as validation computes it (src/model/validate.ts): the model's files as
// walkModel lists them, each hashed, through the canonical manifest (modelDigest).
import { type FileEntry, modelDigest, sha256File } from "../model/digest.js";
import { walkModel } from "../model/walk.js";
import type { RevisionRecord } from "../state/ledger.js";
import { errorMessage } from "../util/errors.js";

/** What is at a model path now: its digest, or why there is none. */
export type PathDigest =
  | { kind: "digest"; digest: string }
  | { kind: "missing" }
  | { kind: "unreadable"; why: string };

/** The model digest of the files at `path`, as validation would record it. */
export async function digestAt(path: string): Promise<PathDigest> {
  let walked: Awaited<ReturnType<typeof walkModel>>;
  try {
    walked = await walkModel(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return { kind: "missing" };
    return { kind: "unreadable", why: errorMessage(error) };
  }
  const files: FileEntry[] = [];
  for (const file of walked.files) {
    try {
      const { sha256, size } = await sha256File(file.absolutePath);
      files.push({ path: file.path, size, sha256 });
    } catch (error) {
      return { kind: "unreadable", why: `${file.path} cannot be read: ${errorMessage(error)}` };
    }
  }
  return { kind: "digest", digest: modelDigest(files) };
}

/** Whether the files at `path` are the model with `digest` (false when gone or unreadable). */
export async function holdsDigest(path: string, digest: string): Promise<boolean> {
  const found = await digestAt(path);
  return found.kind === "digest" && found.digest === digest;
}

/** The revision's files are not the revision: changed, gone or unreadable at the recorded path. */
export class RevisionFilesError extends Error {
  constructor(
    message: string,
    readonly revision: string,
    readonly expected: string,
    readonly found: PathDigest,
  ) {
    super(message);
  }
}

export interface RevisionCheck {
  /** Where the ledger that recorded the path is (a file, a ConfigMap), for the message. */
  ledger: string;
  /** The other way out, for this command; a default that fits starting and rolling back is used. */
  otherwise?: string;
  /**
   * Called once the files are found not to be the revision: makes them so where it can (a copy
   * made again from its source) and says whether it did, in which case the check passes.
   */
  restore?: () => Promise<boolean>;
}

/**
 * Fails unless the files at `revision.model.path` have the digest recorded for the revision, with
 * a message naming the revision, both digests, the path and where it came from (the ledger).
 */
export async function verifyRevisionFiles(revision: RevisionRecord, check: RevisionCheck): Promise<void> {
  const { path, digest: expected } = revision.model;
  const found = await digestAt(path);
  if (found.kind === "digest" && found.digest === expected) return;
  if (check.restore && (await check.restore())) return;
  const { source } = revision.model;
  const origin = source
    ? `${revision.id}'s copy, deployed from ${source}, as the ledger ${check.ledger} records it`
    : `the path recorded for ${revision.id} in the ledger ${check.ledger}`;
  const what =
    found.kind === "missing"
      ? `revision ${revision.id}'s model path ${path} (${origin}) does not exist; ${revision.id} is ${expected}`
      : found.kind === "unreadable"
        ? `revision ${revision.id}'s model files at ${path} (${origin}) cannot be read (${found.why}); ${revision.id} is ${expected}`
        : `revision ${revision.id}'s model files at ${path} (${origin}) are not ${revision.id} any more: ` +
          `expected ${expected}, found ${found.digest}. They were changed or replaced since ${revision.id} was validated`;
  const restore = source
    ? `put ${revision.id}'s model (digest ${expected}) back at ${source}, from where it is copied again`
    : `put ${revision.id}'s model (digest ${expected}) back at ${path}`;
  const otherwise =
    check.otherwise ?? "make a revision whose files are intact stable (modelship promote --revision rN)";
  const fix = `${restore}, or ${otherwise}`;
  throw new RevisionFilesError(`${what}, so it is not started. Fix: ${fix}`, revision.id, expected, found);
}
