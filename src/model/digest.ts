import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export interface FileEntry {
  /** Relative to the model root, posix separators. */
  path: string;
  size: number;
  sha256: string;
}

/** Hex sha256 of a file, streamed so multi-gigabyte weights do not need to fit in memory. */
export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), size };
}

/**
 * The canonical manifest: one `path\tsize\tsha256` line per file, sorted by path (UTF-16 code units, not
 * locale), each line ending in "\n". Hashing it gives a model digest that does not depend on where the
 * model lives or on the order the file system lists it.
 */
export function manifestText(files: readonly FileEntry[]): string {
  return [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`)
    .join("");
}

/** `sha256:<hex>` of the canonical manifest. */
export function modelDigest(files: readonly FileEntry[]): string {
  return `sha256:${createHash("sha256").update(manifestText(files), "utf8").digest("hex")}`;
}
