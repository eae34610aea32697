import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { byCodeUnits } from "../util/compare.js";

export interface FileEntry {
  /** Relative to the model root, posix separators. */
  path: string;
  size: number;
  sha256: string;
}

/**
 * Hex sha256 of a file, read in 1 MiB pieces into one reused buffer: multi-gigabyte weights never
 * need to fit in memory, and no garbage piles up between collections (a read stream allocates a
 * new chunk per read).
 */
export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  const buffer = Buffer.allocUnsafe(1 << 20);
  const handle = await open(path, "r");
  let size = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      size += bytesRead;
    }
  } finally {
    await handle.close();
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
    .sort((a, b) => byCodeUnits(a.path, b.path))
    .map((f) => `${f.path}\t${f.size}\t${f.sha256}\n`)
    .join("");
}

/** `sha256:<hex>` of the canonical manifest. */
export function modelDigest(files: readonly FileEntry[]): string {
  return `sha256:${createHash("sha256").update(manifestText(files), "utf8").digest("hex")}`;
}
