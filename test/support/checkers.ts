// The virtualenv of independent model-file checkers (picklescan, fickling, modelscan, onnx,
// safetensors, numpy) that `node scripts/ensure-deps.js --python` builds once per machine. Tests
// only read it: a missing one is an error that says how to build it, never a skipped test.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
// @ts-expect-error: a plain ES module shared with the install script
import { checkersVenvDir } from "../../scripts/python-env.js";

export function checkersPython(): string {
  const venv: string = checkersVenvDir();
  if (!existsSync(join(venv, ".complete"))) {
    throw new Error(
      `the test checkers' virtualenv is missing at ${venv}: run 'node scripts/ensure-deps.js --python' (npm test does)`,
    );
  }
  return join(venv, "bin", "python");
}

/** Runs a Python snippet in the checkers' virtualenv with a time limit; stdout parsed as JSON. */
export async function runChecker<T>(script: string, args: string[] = [], timeoutMs = 60_000): Promise<T> {
  const { stdout } = await execa(checkersPython(), ["-c", script, ...args], {
    timeout: timeoutMs,
    env: { PYTHONDONTWRITEBYTECODE: "1", PYTHONHASHSEED: "0" },
    extendEnv: true,
  });
  return JSON.parse(stdout) as T;
}
