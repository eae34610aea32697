import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface Invocation {
  command: string;
  args: string[];
}

/**
 * How to start this CLI again in a child process (the local target runs each model server as
 * `modelship serve …`). Bundled (dist/) → node + the bundle; from source (tsx, vitest) → node with
 * tsx's loader + src/bin.ts. MODELSHIP_CLI (a JSON array) overrides both.
 */
export function selfInvocation(moduleUrl: string = import.meta.url): Invocation {
  const override = process.env.MODELSHIP_CLI;
  if (override) {
    const parts: unknown = JSON.parse(override);
    if (!Array.isArray(parts) || parts.length === 0 || !parts.every((p) => typeof p === "string")) {
      throw new Error("MODELSHIP_CLI must be a JSON array of strings, e.g. [\"node\",\"dist/cli/index.js\"]");
    }
    const [command, ...args] = parts as string[];
    return { command: command as string, args };
  }
  const file = fileURLToPath(moduleUrl);
  if (file.endsWith(".ts")) {
    const root = resolve(dirname(file), "..", "..");
    const tsxLoader = createRequire(moduleUrl).resolve("tsx");
    return { command: process.execPath, args: ["--import", pathToFileURL(tsxLoader).href, join(root, "src", "bin.ts")] };
  }
  // Every bundle in dist/<entry>/index.js starts the CLI bundle beside it.
  return { command: process.execPath, args: [join(dirname(file), "..", "cli", "index.js")] };
}
