// List the files of a model (a single file or a directory tree) without ever leaving it: symlinks that
// point outside, dangling links and special files (FIFOs would block a reader forever) become findings.
import type { Dirent } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { basename, dirname, join, relative, sep } from "node:path";
import { byCodeUnits } from "../util/compare.js";
import type { Finding } from "./findings.js";

export interface WalkedFile {
  /** Relative to the model root, posix separators. */
  path: string;
  /** Where to read the bytes (the link target for an in-tree symlink). */
  absolutePath: string;
}

export interface WalkResult {
  /** The directory the relative paths start from. */
  root: string;
  files: WalkedFile[];
  findings: Finding[];
}

const MAX_DEPTH = 64;

// Tabs and newlines would make the manifest ambiguous; other control characters only hide things in logs.
function hasControlCharacter(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function isInside(root: string, target: string): boolean {
  const rel = relative(root, target);
  return (
    rel === "" ||
    (!rel.startsWith(`..${sep}`) && rel !== ".." && !rel.startsWith(sep) && !/^[a-zA-Z]:/.test(rel))
  );
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Throws only for a missing or unreadable root; everything inside the tree becomes a finding. */
export async function walkModel(path: string): Promise<WalkResult> {
  const rootStat = await stat(path);
  if (rootStat.isFile()) {
    return { root: dirname(path), files: [{ path: basename(path), absolutePath: path }], findings: [] };
  }
  if (!rootStat.isDirectory()) {
    return {
      root: path,
      files: [],
      findings: [
        {
          severity: "error",
          code: "MODEL_NOT_REGULAR",
          message: `${path} is neither a regular file nor a directory`,
        },
      ],
    };
  }
  const realRoot = await realpath(path);
  const files: WalkedFile[] = [];
  const findings: Finding[] = [];

  async function visit(dir: string, prefix: string, depth: number): Promise<void> {
    if (depth > MAX_DEPTH) {
      findings.push({
        severity: "error",
        code: "MODEL_TREE_TOO_DEEP",
        message: `directories nest deeper than ${MAX_DEPTH} levels`,
        file: prefix,
      });
      return;
    }
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => byCodeUnits(a.name, b.name));
    for (const entry of entries) {
      const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
      const absolute = join(dir, entry.name);
      if (hasControlCharacter(entry.name)) {
        findings.push({
          severity: "error",
          code: "FILE_NAME_UNSAFE",
          message: `file name ${JSON.stringify(rel)} contains control characters; rename it`,
          file: JSON.stringify(rel),
        });
        continue;
      }
      if (entry.isDirectory()) {
        await visit(absolute, rel, depth + 1);
      } else if (entry.isFile()) {
        files.push({ path: rel, absolutePath: absolute });
      } else if (entry.isSymbolicLink()) {
        await visitLink(absolute, rel);
      } else {
        findings.push({
          severity: "warning",
          code: "SPECIAL_FILE_SKIPPED",
          message: `${rel} is not a regular file (socket, FIFO or device) and was skipped`,
          file: rel,
        });
      }
    }
  }

  async function visitLink(absolute: string, rel: string): Promise<void> {
    let target: string;
    try {
      target = await realpath(absolute);
    } catch (error) {
      findings.push({
        severity: "error",
        code: "SYMLINK_BROKEN",
        message: `symlink ${rel} points to nothing (${code(error) ?? "unreadable"}); remove it or restore its target`,
        file: rel,
      });
      return;
    }
    if (!isInside(realRoot, target)) {
      findings.push({
        severity: "error",
        code: "SYMLINK_OUTSIDE_MODEL",
        message: `symlink ${rel} points outside the model directory; copy the file into the model instead`,
        file: rel,
      });
      return;
    }
    const targetStat = await stat(target);
    if (targetStat.isFile()) {
      files.push({ path: rel, absolutePath: target });
    } else {
      // Following directory links invites cycles and double counting; the target is walked on its own anyway.
      findings.push({
        severity: "warning",
        code: "SYMLINK_NOT_FOLLOWED",
        message: `symlink ${rel} points to a directory or special file inside the model and was not followed`,
        file: rel,
      });
    }
  }

  await visit(path, "", 0);
  files.sort((a, b) => byCodeUnits(a.path, b.path));
  return { root: path, files, findings };
}
