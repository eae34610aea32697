import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LedgerFile } from "../../src/state/ledger-file.js";
import {
  childPids,
  closeServer,
  collect,
  IRIS,
  isAlive,
  model,
  runCli,
  spawnCli,
  tempDir,
  waitFor,
} from "./helpers.js";

let work: string;
const spawned: number[] = [];

beforeAll(async () => {
  work = await tempDir("modelship-cli-");
});
afterAll(async () => {
  // Only processes this file started, and only if a failed test left them running.
  for (const pid of spawned) if (isAlive(pid)) process.kill(pid, "SIGKILL");
  await rm(work, { recursive: true, force: true });
});

const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);

/** A modelship.yml for the Iris example with absolute paths and one canary step of `stepS` seconds. */
async function writeConfig(name: string, stateDir: string, stepS: number): Promise<string> {
  const file = join(work, `${name}.yml`);
  await writeFile(
    file,
    `model:
  name: iris
  path: ${model("v2")}
target:
  kind: local
  stateDir: ${stateDir}
benchmark:
  input: ${join(IRIS, "eval.jsonl")}
strategy:
  trafficRate: 20
  steps:
    - weight: 50
      duration: ${stepS}s
gates:
  errorRate: { max: 0.5 }
  accuracy: { evalSet: ${join(IRIS, "eval.jsonl")}, min: 0.5, output: label }
`,
  );
  return file;
}

/** Deploys Iris v1 as the first (stable) revision into `stateDir` through the CLI. */
async function deployV1(config: string, stateDir: string) {
  const result = await runCli([
    "deploy",
    "--config",
    config,
    "--model",
    model("v1"),
    "--state-dir",
    stateDir,
    "--json",
  ]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { revision: string; outcome: string };
}

/** Starts `modelship serve` on a free port; resolves with its URL once it is ready. */
async function startServe(version: "v1" | "v2") {
  const child = spawnCli(["serve", model(version), "--port", "0", "--name", "iris", "--json"]);
  spawned.push(child.pid as number);
  const done = collect(child);
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once("exit", (code) => reject(new Error(`serve exited with ${code}`)));
  });
  return { child, url, done };
}

describe("modelship CLI as a real process", () => {
  it("--help exits 0 and lists the commands", async () => {
    const { code, stdout } = await runCli(["--help"]);
    expect(code).toBe(0);
    for (const name of ["validate", "benchmark", "build", "serve", "deploy", "gate", "promote", "rollback"]) {
      expect(stdout).toMatch(new RegExp(`^  ${name} `, "m"));
    }
    expect(stdout).toMatch(/^ {2}status /m);
  });

  it("an unknown command exits 2 with its name and the usage on stderr", async () => {
    const { code, stdout, stderr } = await runCli(["frobnicate"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/unknown command "frobnicate"/);
    expect(stderr).toMatch(/usage: modelship <command>/);
  });

  it("validate --json accepts the Iris v2 model and prints the report alone on stdout", async () => {
    const { code, stdout } = await runCli(["validate", model("v2"), "--json"]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as {
      accepted: boolean;
      format: string;
      digest: string;
      findings: unknown[];
    };
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("onnx");
    expect(report.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(report.findings).toEqual([]);
  });

  it("validate rejects random bytes named model.onnx with exit 1, a finding code and no stack trace", async () => {
    const dir = join(work, "random-model");
    await mkdir(dir);
    await writeFile(join(dir, "model.onnx"), randomBytes(512));
    const json = await runCli(["validate", dir, "--json"]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as {
      accepted: boolean;
      findings: { severity: string; code: string }[];
    };
    expect(report.accepted).toBe(false);
    expect(report.findings.some((f) => f.severity === "error" && /^[A-Z][A-Z_]+$/.test(f.code))).toBe(true);
    noStackTrace(json.stderr);

    const text = await runCli(["validate", dir]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^rejected: /);
    expect(text.stdout).toMatch(/^ {2}error [A-Z][A-Z_]+ model\.onnx: /m);
    noStackTrace(text.stderr);
  });

  it("deploy with a bad key in the config exits 2, names file:line:column and changes nothing", async () => {
    const stateDir = join(work, "never-created");
    const file = join(work, "broken.yml");
    await writeFile(
      file,
      `model:
  name: iris
  path: ${model("v2")}
target:
  kind: local
  stateDir: ${stateDir}
strategy:
  trafficRate: 40
  stpes:
    - weight: 50
      duration: 1s
`,
    );
    const { code, stdout, stderr } = await runCli(["deploy", "--config", file]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(`${file}:9:3`);
    expect(stderr).toMatch(/stpes/);
    expect(stderr).toMatch(/did you mean "steps"/);
    noStackTrace(stderr);
    expect(existsSync(stateDir)).toBe(false);
  });

  it("serve on a port already in use exits non-zero and says the port is in use", async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = busy.address() as AddressInfo;
      const { code, stderr } = await runCli(["serve", model("v1"), "--port", String(port)]);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(stderr).toMatch(new RegExp(`port ${port}\\b.*in use`));
      noStackTrace(stderr);
    } finally {
      await closeServer(busy);
    }
  });

  it("serve started with --exit-with-stdin exits cleanly on SIGTERM while its stdin is still open", async () => {
    // The parent holds a pipe to its stdin open, as the local target does.
    const child = spawnCli(["serve", model("v1"), "--port", "0", "--json", "--exit-with-stdin"], {
      stdin: "pipe",
    });
    spawned.push(child.pid as number);
    const done = collect(child);
    await new Promise((resolve) => child.stdout?.once("data", resolve));
    child.kill("SIGTERM");
    // Without a clean exit the process would stay up (until someone SIGKILLs it).
    const exited = await Promise.race([done, new Promise<null>((r) => setTimeout(() => r(null), 4_000))]);
    expect(exited, "serve did not exit on SIGTERM").not.toBeNull();
    expect(exited?.signal).toBeNull();
    expect(exited?.code).toBe(0);
    child.stdin?.end();
  });

  it("benchmark --json against a real serve process reports latency and about rate × duration requests", async () => {
    const serve = await startServe("v2");
    try {
      const { code, stdout, stderr } = await runCli([
        "benchmark",
        "--url",
        serve.url,
        "--model-name",
        "iris",
        "--input",
        join(IRIS, "eval.jsonl"),
        "--rate",
        "20",
        "--duration",
        "1",
        "--warmup",
        "0",
        "--json",
      ]);
      expect(code, stderr).toBe(0);
      const report = JSON.parse(stdout) as {
        requests: number;
        errors: number;
        latencyMs: { p50: number; p99: number };
      };
      expect(report.requests).toBeGreaterThanOrEqual(18);
      expect(report.requests).toBeLessThanOrEqual(22);
      expect(report.errors).toBe(0);
      expect(report.latencyMs.p50).toBeGreaterThan(0);
      expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p50);
    } finally {
      serve.child.kill("SIGTERM");
      const end = await serve.done;
      expect(end.code).toBe(0);
    }
  });

  it("status after a first deploy shows the stable revision; rollback with one revision exits 1 clearly", async () => {
    const stateDir = join(work, "state-status");
    const config = await writeConfig("status", stateDir, 1);
    const deployed = await deployV1(config, stateDir);
    expect(deployed).toMatchObject({ revision: "r1", outcome: "deployed" });

    const status = await runCli(["status", "--state-dir", stateDir, "--json"]);
    expect(status.code).toBe(0);
    const ledger = JSON.parse(status.stdout) as {
      stable?: string;
      canary?: unknown;
      revisions: { id: string; model: { path: string; digest: string; source?: string; bytes?: number } }[];
      history: { action: string; revision: string }[];
    };
    expect(ledger.stable).toBe("r1");
    expect(ledger.canary).toBeUndefined();
    expect(ledger.revisions).toHaveLength(1);
    // Run from the target's own copy, named by digest, of the files deployed from model("v1").
    const digest = ledger.revisions[0]?.model.digest ?? "";
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ledger.revisions[0]?.model).toMatchObject({
      source: model("v1"),
      path: join(stateDir, "models", digest.slice("sha256:".length)),
      // The size validated, kept for checks where the files are not at hand.
      bytes: (await stat(join(model("v1"), "model.onnx"))).size,
    });
    expect(ledger.history).toMatchObject([{ action: "deploy", revision: "r1" }]);

    const rollback = await runCli(["rollback", "--state-dir", stateDir]);
    expect(rollback.code).toBe(1);
    expect(rollback.stderr).toMatch(/r1 is the only one ever made stable; name one with --to/);
    noStackTrace(rollback.stderr);
    // Nothing changed.
    const again = JSON.parse((await runCli(["status", "--state-dir", stateDir, "--json"])).stdout);
    expect(again).toEqual(ledger);
  });

  it("Ctrl-C during a canary step stops the CLI and its model servers; the next open has no canary", async () => {
    const stateDir = join(work, "state-sigint");
    const config = await writeConfig("sigint", stateDir, 30);
    await deployV1(config, stateDir);

    const cli = spawnCli(["deploy", "--config", config]);
    const pid = cli.pid as number;
    spawned.push(pid);
    const done = collect(cli);
    let stderr = "";
    cli.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
    });
    await waitFor(
      () => /step 1\/1: canary weight 50%/.test(stderr) || cli.exitCode !== null,
      "the canary step",
    );
    expect(cli.exitCode, stderr).toBeNull();
    const children = await childPids(pid);
    const servers = children.filter((p) =>
      readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0").includes("serve"),
    );
    expect(servers).toHaveLength(2); // stable v1 and canary v2
    spawned.push(...servers);

    cli.kill("SIGINT");
    const result = await done;
    expect(result.code === 130 || result.signal === "SIGINT").toBe(true);
    await waitFor(() => children.every((p) => !isAlive(p)), "the CLI's children to exit");

    // The interrupted CLI recorded the revert itself and released the deploy lock: `status` is
    // truthful right away, before anything reopens the target.
    expect(existsSync(join(stateDir, "deploy.lock"))).toBe(false);
    const ledger = await new LedgerFile(stateDir).read();
    expect(ledger.canary).toBeUndefined();
    expect(ledger.stable).toBe("r1");
    expect(ledger.history.at(-1)).toMatchObject({
      action: "revert",
      revision: "r2",
      reason: "interrupted by SIGINT",
    });
  });
});
