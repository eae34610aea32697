// Where the test checkers' virtualenv lives: one per machine and per requirements file, outside
// the clone, so a second run (or a second clone) finds it built. Shared by ensure-deps.js, which
// builds it, and test/support/checkers.ts, which only reads it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const checkersRequirements = new URL("../test/checkers/requirements.txt", import.meta.url).pathname;

export function checkersVenvDir(env = process.env) {
  const hash = createHash("sha256").update(readFileSync(checkersRequirements)).digest("hex").slice(0, 12);
  const root = env.MODELSHIP_PYTHON_CACHE || join(homedir(), ".cache", "modelship", "python");
  return join(root, `checkers-${hash}`);
}
