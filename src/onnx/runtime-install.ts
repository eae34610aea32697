// onnxruntime-node is optional and never bundled (native, ~300 MB). Where modelship runs without it,
// as a GitHub runner running the bundled action does (no node_modules beside dist/), it is installed
// once on first use into a cache directory and loaded from there.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import { errorMessage } from "../util/errors.js";
import { type Logger, silentLogger } from "../util/log.js";

/** The version package.json pins (a test keeps them equal). */
export const ORT_VERSION = "1.30.0";

type Ort = typeof import("onnxruntime-node");

/** MODELSHIP_RUNTIME_DIR, else the runner's tool cache, else ~/.cache; one directory per version. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELSHIP_RUNTIME_DIR) return env.MODELSHIP_RUNTIME_DIR;
  const base = env.RUNNER_TOOL_CACHE ?? join(homedir(), ".cache");
  return join(base, "modelship", `onnxruntime-node-${ORT_VERSION}`);
}

/** The runtime installed in `dir`, or undefined when there is none. */
export async function installedRuntime(dir: string): Promise<Ort | undefined> {
  const pkg = join(dir, "node_modules", "onnxruntime-node");
  let main: string;
  try {
    main =
      (JSON.parse(await readFile(join(pkg, "package.json"), "utf8")) as { main?: string }).main ?? "index.js";
  } catch {
    return undefined;
  }
  // webpackIgnore: the bundler must leave this a runtime import, never resolve or hoist it.
  const loaded = (await import(/* webpackIgnore: true */ pathToFileURL(join(pkg, main)).href)) as {
    default?: Ort;
  };
  return loaded.default ?? (loaded as Ort);
}

/**
 * Installs the pinned onnxruntime-node into `dir` with npm (argv, no shell; install scripts off, since
 * the CPU binaries ship in the package and the script only fetches GPU parts). Installs into a fresh
 * directory and renames it into place, so model servers starting together never see half an install.
 */
export async function installRuntime(dir: string, logger: Logger = silentLogger): Promise<void> {
  const staging = `${dir}.${randomBytes(4).toString("hex")}.partial`;
  await mkdir(dirname(dir), { recursive: true });
  logger.info(`installing onnxruntime-node ${ORT_VERSION} into ${dir} (first use)…`);
  try {
    await execa(
      "npm",
      [
        "install",
        "--no-save",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefix",
        staging,
        `onnxruntime-node@${ORT_VERSION}`,
      ],
      // A registry that never answers must not hang the pipeline.
      { stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: 10 * 60_000 },
    );
    await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another process finished first: its install is as good as ours.
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
  } catch (error) {
    throw new Error(
      `could not install onnxruntime-node ${ORT_VERSION} into ${dir}: ${errorMessage(error).split("\n").slice(-3).join(" ")}. ` +
        'Fix: install it where modelship runs ("npm install onnxruntime-node"), or allow npm to reach its registry',
    );
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
