// Where an image comes from: the OCI labels org.opencontainers.image.{source,revision,version} and the
// commit time that `created` falls back to, so that rebuilding the same commit gives the same digest.
// Read from the CI's environment (GitHub Actions) first, else from git in the model's repository. git
// runs with an argv array (never a shell) and is read-only here; every value it or the environment
// gives is checked before it becomes a label, and credentials in a remote URL are never copied.
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { execa } from "execa";
import { ANNOTATION } from "./manifest.js";

export const LABEL = {
  source: "org.opencontainers.image.source",
  revision: "org.opencontainers.image.revision",
  version: "org.opencontainers.image.version",
  created: ANNOTATION.created,
} as const;

export interface Provenance {
  /** https URL of the source repository, without credentials. */
  source?: string;
  /** Commit id (40 or 64 hex). */
  revision?: string;
  version?: string;
  /** Commit time in whole seconds since the epoch, as `git log -1 --format=%ct` prints it. */
  commitTime?: number;
}

/** Runs git with these arguments in `cwd`; resolves to stdout, or undefined when git fails. */
export type GitRunner = (args: readonly string[], cwd: string) => Promise<string | undefined>;

export type Env = Readonly<Record<string, string | undefined>>;

export interface ProvenanceOptions {
  /** Default process.env. */
  env?: Env;
  /** Default: the git on PATH; false: environment only. */
  git?: GitRunner | false;
  /** An explicit version (input/flag); else the tag the CI runs for, else a tag on the commit. */
  version?: string;
}

const COMMIT = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const REPOSITORY = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;
// Same characters as an image tag plus "/" and "+" (release/1.2, 1.0.0+build.5); nothing that could be
// read as a git option or carry a newline.
const VERSION = /^[A-Za-z0-9_][A-Za-z0-9_.+/-]{0,127}$/;

const nonEmpty = (value: string | undefined) => (value === undefined || value === "" ? undefined : value);

/**
 * A git remote URL as a public https URL: scp-like `git@host:org/repo.git`, ssh:// and https:// forms
 * are accepted; user info (tokens) and a trailing .git are dropped; local paths and other schemes give
 * undefined because they name nothing a reader of the image could open.
 */
export function publicSourceUrl(remote: string): string | undefined {
  const text = remote.trim();
  if (text === "" || text.length > 2048 || /[\s\0]/.test(text)) return undefined;
  let host: string;
  let path: string;
  const scp = /^(?:[^@/:]+@)?([A-Za-z0-9.-]+):(?!\/)(.+)$/.exec(text);
  if (scp && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    host = scp[1] as string;
    path = scp[2] as string;
  } else {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    if (!["https:", "http:", "ssh:", "git:", "git+ssh:", "ssh+git:"].includes(url.protocol)) return undefined;
    // A web URL keeps its port; an ssh port is not where a browser would find the repository.
    host = url.protocol === "https:" || url.protocol === "http:" ? url.host : url.hostname;
    path = url.pathname;
  }
  path = path
    .replace(/^\/+/, "")
    .replace(/\/+$/, "")
    .replace(/\.git$/, "");
  if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(host) || !host.includes(".")) return undefined;
  if (path === "" || !/^[A-Za-z0-9_.~-]+(?:\/[A-Za-z0-9_.~-]+)*$/.test(path)) return undefined;
  if (path.split("/").some((part) => part === "." || part === "..")) return undefined;
  return `https://${host.toLowerCase()}/${path}`;
}

/** What GitHub Actions says about the run: repository URL, commit, and the tag when a tag was pushed. */
export function provenanceFromEnv(env: Env): Provenance {
  const out: Provenance = {};
  const server = nonEmpty(env.GITHUB_SERVER_URL) ?? "https://github.com";
  const repository = nonEmpty(env.GITHUB_REPOSITORY);
  if (repository !== undefined && REPOSITORY.test(repository)) {
    const source = publicSourceUrl(`${server}/${repository}`);
    if (source) out.source = source;
  }
  const sha = nonEmpty(env.GITHUB_SHA)?.toLowerCase();
  if (sha !== undefined && COMMIT.test(sha)) out.revision = sha;
  const ref = nonEmpty(env.GITHUB_REF);
  if (ref?.startsWith("refs/tags/")) {
    const tag = ref.slice("refs/tags/".length);
    if (VERSION.test(tag)) out.version = tag;
  }
  return out;
}

export const gitRunner: GitRunner = async (args, cwd) => {
  const result = await execa("git", [...args], {
    cwd,
    reject: false,
    timeout: 10_000,
    stdin: "ignore",
    // Never prompt for anything; a read of local refs needs no credentials.
    env: { GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" },
  });
  if (result.failed || result.exitCode !== 0) return undefined;
  return typeof result.stdout === "string" ? result.stdout : undefined;
};

async function directoryOf(modelPath: string): Promise<string | undefined> {
  try {
    return (await stat(modelPath)).isDirectory() ? modelPath : dirname(modelPath);
  } catch {
    return undefined;
  }
}

/** Commit, commit time, origin URL and an exact tag from the git repository holding `modelPath`. */
export async function provenanceFromGit(
  modelPath: string,
  git: GitRunner,
  revision?: string,
): Promise<Provenance> {
  const cwd = await directoryOf(modelPath);
  if (cwd === undefined) return {};
  // The CI's commit when it gave one (validated hex, so it cannot be read as an option), else HEAD.
  const rev = revision !== undefined && COMMIT.test(revision) ? revision : "HEAD";
  const log = await git(["log", "-1", "--no-show-signature", "--format=%H %ct", rev, "--"], cwd);
  const match = /^([0-9a-f]{40}|[0-9a-f]{64}) (\d{1,12})$/.exec(log?.trim() ?? "");
  if (!match) return {};
  const out: Provenance = { revision: match[1] as string, commitTime: Number(match[2]) };
  const remote = await git(["remote", "get-url", "origin"], cwd);
  const source = remote !== undefined ? publicSourceUrl(remote) : undefined;
  if (source) out.source = source;
  const tag = (await git(["describe", "--tags", "--exact-match", rev], cwd))?.trim();
  if (tag !== undefined && VERSION.test(tag)) out.version = tag;
  return out;
}

/** The CI environment wins over git for source and revision; git still gives the commit time. */
export async function resolveProvenance(
  modelPath: string,
  options: ProvenanceOptions = {},
): Promise<Provenance> {
  const env = options.env ?? process.env;
  const fromEnv = provenanceFromEnv(env);
  const fromGit =
    options.git === false
      ? {}
      : await provenanceFromGit(modelPath, options.git ?? gitRunner, fromEnv.revision);
  const out: Provenance = { ...fromGit, ...fromEnv };
  // A commit time read for another commit than the one the CI names would not be this build's.
  if (fromEnv.revision !== undefined && fromGit.revision !== fromEnv.revision) delete out.commitTime;
  if (options.version !== undefined) {
    if (!VERSION.test(options.version)) {
      throw new Error(
        `version ${JSON.stringify(options.version)} must be 1-128 of letters, digits, "_", ".", "+", "/" and "-"`,
      );
    }
    out.version = options.version;
  }
  return out;
}

/** The OCI labels for what is known; nothing is invented for what is not. */
export function provenanceLabels(p: Provenance): Record<string, string> {
  const labels: Record<string, string> = {};
  if (p.source !== undefined) labels[LABEL.source] = p.source;
  if (p.revision !== undefined) labels[LABEL.revision] = p.revision;
  if (p.version !== undefined) labels[LABEL.version] = p.version;
  return labels;
}
