// The model as it is at another commit (a pull request's base), copied out of git into a directory
// of its own: fetched first when a shallow checkout does not have the commit. Models kept in Git LFS
// are stored as pointers: they are smudged through `git lfs` when it is installed, else refused
// with what to do (checkout with `lfs: true`, or install git-lfs).
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { execa } from "execa";
import type { Logger } from "../util/log.js";

const LFS_POINTER = "version https://git-lfs.github.com/spec/v1";

export interface BaseModel {
  /** The model's path in the copy (a file or a directory, as in the working tree). */
  path: string;
  sha: string;
  /** Whether the commit had to be fetched (a shallow checkout). */
  fetched: boolean;
  /** Files that were Git LFS pointers and were smudged. */
  lfs: number;
}

const git = async (cwd: string, args: string[], input?: Buffer): Promise<Buffer> =>
  Buffer.from(
    (
      await execa("git", args, {
        cwd,
        encoding: "buffer",
        maxBuffer: 4 * 1024 ** 3,
        ...(input ? { input } : {}),
        // Never ask for credentials on a runner: fail instead.
        env: { GIT_TERMINAL_PROMPT: "0" },
      })
    ).stdout,
  );

/**
 * Copies `modelPath` (inside a git working tree) as it was at `sha` into `dest`; undefined when the
 * model did not exist at that commit (its first appearance: nothing to compare with).
 */
export async function modelAtCommit(
  modelPath: string,
  sha: string,
  dest: string,
  logger: Logger,
): Promise<BaseModel | undefined> {
  if (!/^[0-9a-f]{7,40}$/i.test(sha)) throw new Error(`not a commit sha: ${JSON.stringify(sha)}`);
  const probe = dirname(modelPath);
  const top = (await git(probe, ["rev-parse", "--show-toplevel"]).catch(() => undefined))?.toString().trim();
  if (!top) throw new Error(`${modelPath} is not in a git checkout: the base commit's model cannot be read`);
  const rel = relative(top, modelPath).split(sep).join("/");
  if (rel.startsWith("..")) throw new Error(`${modelPath} is outside the checkout ${top}`);

  let fetched = false;
  const has = () =>
    git(top, ["cat-file", "-e", `${sha}^{commit}`]).then(
      () => true,
      () => false,
    );
  if (!(await has())) {
    logger.info(`  base commit ${sha.slice(0, 12)} is not in this (shallow) checkout: fetching it`);
    try {
      await git(top, ["fetch", "--no-tags", "--depth=1", "origin", sha]);
    } catch (error) {
      throw new Error(
        `the base commit ${sha} is not in the checkout and could not be fetched (${firstLine(error)}); use actions/checkout with fetch-depth: 0, or give base-sha a commit it has`,
      );
    }
    fetched = true;
  }
  const listed = (await git(top, ["ls-tree", "-r", "-z", "--name-only", sha, "--", rel]))
    .toString()
    .split("\0")
    .filter(Boolean);
  if (listed.length === 0) return undefined;

  let lfs = 0;
  for (const file of listed) {
    let content = await git(top, ["cat-file", "blob", `${sha}:${file}`]);
    if (content.length < 1024 && content.subarray(0, LFS_POINTER.length).toString() === LFS_POINTER) {
      try {
        content = await git(top, ["lfs", "smudge", "--", file], content);
      } catch (error) {
        throw new Error(
          `${file} is a Git LFS pointer at ${sha.slice(0, 12)} and git lfs could not fetch it (${firstLine(error)}): install git-lfs and check out with lfs: true (see docs/github.md)`,
        );
      }
      lfs++;
    }
    const out = join(dest, ...file.split("/"));
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, content);
  }
  return { path: join(dest, ...rel.split("/")), sha, fetched, lfs };
}

function firstLine(error: unknown): string {
  const e = error as { stderr?: Buffer | string; message?: string };
  const text = (e.stderr ? e.stderr.toString() : "") || e.message || String(error);
  return text.trim().split("\n")[0] ?? text;
}
