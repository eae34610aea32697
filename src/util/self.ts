import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface Invocation {
  command: string;
  args: string[];
}

/** The modelship package's root (not dist/, whose package.json only sets the module type). */
export function packageRoot(moduleUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  while (!isModelshipPackage(dir)) {
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`cannot find modelship's package.json above ${fileURLToPath(moduleUrl)}`);
    dir = parent;
  }
  return dir;
}

function isModelshipPackage(dir: string): boolean {
  const file = join(dir, "package.json");
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as { name?: unknown }).name === "modelship";
  } catch {
    return false;
  }
}

/**
 * How to start this CLI again in a child process (the local target runs each model server as
 * `modelship serve …`). Bundled (dist/) → node + dist/cli/index.js; from source (tsx, vitest) →
 * node with tsx's loader + src/bin.ts, or `sourceEntry` (a lighter entry under src/ that takes the
 * same arguments). MODELSHIP_CLI (a JSON array) overrides both.
 */
export function selfInvocation(moduleUrl: string = import.meta.url, sourceEntry = "bin.ts"): Invocation {
  const override = process.env.MODELSHIP_CLI;
  if (override) {
    const parts: unknown = JSON.parse(override);
    if (!Array.isArray(parts) || parts.length === 0 || !parts.every((p) => typeof p === "string")) {
      throw new Error('MODELSHIP_CLI must be a JSON array of strings, e.g. ["node","dist/cli/index.js"]');
    }
    const [command, ...args] = parts as string[];
    return { command: command as string, args };
  }
  const root = packageRoot(moduleUrl);
  if (fileURLToPath(moduleUrl).endsWith(".ts")) {
    // From source only (tsx, vitest): tsx is a devDependency of this repository.
    const tsxLoader = join(root, "node_modules", "tsx", "dist", "loader.mjs");
    return {
      command: process.execPath,
      args: ["--import", pathToFileURL(tsxLoader).href, join(root, "src", sourceEntry)],
    };
  }
  return { command: process.execPath, args: [join(root, "dist", "cli", "index.js")] };
}
