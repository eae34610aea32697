// The smoke run in its limited child process, with real onnxruntime (from this repository's
// node_modules: MODELSHIP_RUNTIME_DIR is an empty directory of the test's own and installs are off).
// Hostile models go through the CLI as a process of its own, so that a failure here is that process
// dying, not the test worker.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ValidationReport, validateModel } from "../../src/model/validate.js";
import { collect, REPO, waitFor } from "./helpers.js";
import {
  constantOfShape,
  constantOfShapeBomb,
  customDomainOp,
  matMulChain,
  missingLocale,
  oldOpset,
  reshapeByInput,
} from "./smoke-models.js";

const TSX_LOADER = join(REPO, "node_modules", "tsx", "dist", "loader.mjs");
const BIN = join(REPO, "src", "bin.ts");
/** Every process this file starts inherits it, the smoke children (detached, own group) too. */
const MARKER = `smoke-run-${process.pid}-${Date.now()}`;

let work: string;
const saved: Record<string, string | undefined> = {};
const started = new Set<ChildProcess>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-smoke-"));
  await mkdir(join(work, "runtime"));
  await mkdir(join(work, "home"));
  const env = {
    MODELSHIP_RUNTIME_DIR: join(work, "runtime"),
    MODELSHIP_RUNTIME_AUTO_INSTALL: "0",
    MODELSHIP_SMOKE_TEST_MARKER: MARKER,
  };
  for (const [name, value] of Object.entries(env)) {
    saved[name] = process.env[name];
    process.env[name] = value;
  }
});

/** Live processes carrying this file's marker. */
function marked(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (
        readFileSync(`/proc/${pid}/environ`, "latin1")
          .split("\0")
          .includes(`MODELSHIP_SMOKE_TEST_MARKER=${MARKER}`)
      )
        found.push(pid);
    } catch {
      // Gone, or a zombie.
    }
  }
  return found;
}

/** User + system CPU time of a process, from /proc (clock ticks of 1/100 s). */
function cpuSecondsOf(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function killMarked(): void {
  for (const pid of marked()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone in between.
    }
  }
}

afterEach(() => {
  for (const child of started) child.kill("SIGKILL");
  started.clear();
  killMarked();
});

afterAll(async () => {
  killMarked();
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await rm(work, { recursive: true, force: true });
});

async function put(name: string, bytes: Uint8Array | string): Promise<string> {
  const path = join(work, name);
  await writeFile(path, bytes);
  return path;
}

/** `modelship validate PATH --json [--config]` from source, as its own process (after `wrap`, e.g. prlimit). */
async function validateCli(model: string, config?: string, env: NodeJS.ProcessEnv = {}, wrap: string[] = []) {
  const args = [
    "--import",
    TSX_LOADER,
    BIN,
    "validate",
    model,
    "--json",
    ...(config ? ["--config", config] : []),
  ];
  const [file, ...rest] = [...wrap, process.execPath, ...args] as [string, ...string[]];
  const child = spawn(file, rest, {
    cwd: work,
    env: { ...process.env, HOME: join(work, "home"), NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  const startedAt = Date.now();
  const result = await collect(child);
  started.delete(child);
  const report = result.stdout ? (JSON.parse(result.stdout) as ValidationReport) : undefined;
  return { ...result, report, seconds: (Date.now() - startedAt) / 1000 };
}

const smokeConfig = (model: string, smoke: string) =>
  put(
    `${Math.random().toString(36).slice(2)}.yml`,
    `model: { name: m, path: ${model} }\nvalidation:\n  smoke: ${smoke}\n`,
  );

const findingsOf = (report: ValidationReport | undefined) =>
  (report?.findings ?? []).map((f) => ({ severity: f.severity, code: f.code, message: f.message }));

describe("a model file cannot take down validate", () => {
  it("a 139-byte ConstantOfShape [20000, 25000] is rejected by the memory limit in seconds; validate stays up", async () => {
    const model = await put("bomb.onnx", constantOfShapeBomb());
    const run = await validateCli(model);
    // Before the limit: the CLI itself aborted (signal 6, "JavaScript heap out of memory") at 5.6 GB.
    expect(run.signal, run.stderr).toBeNull();
    expect(run.code, run.stderr).toBe(1);
    expect(findingsOf(run.report)).toContainEqual({
      severity: "error",
      code: "SMOKE_MEMORY_LIMIT",
      message: expect.stringMatching(/more than 2\.0 GiB of memory \(validation\.smoke\.memory\).*raise it/),
    });
    expect(run.seconds).toBeLessThan(45);
  });

  it("names the configured memory limit when the model is over it", async () => {
    const model = await put("bomb-256.onnx", constantOfShapeBomb());
    const run = await validateCli(model, await smokeConfig("bomb-256.onnx", "{ memory: 256MiB }"));
    expect(run.code, run.stderr).toBe(1);
    expect(findingsOf(run.report).find((f) => f.code === "SMOKE_MEMORY_LIMIT")?.message).toContain(
      "more than 256 MiB of memory (validation.smoke.memory)",
    );
  });

  it("outputs over validation.smoke.maxOutput are rejected with their size", async () => {
    const model = await put("four-mb.onnx", constantOfShape([1000, 1000]));
    const report = await validateModel(model, { policy: { smoke: { maxOutputBytes: 2 ** 20 } } });
    expect(report.findings.map((f) => [f.code, f.message])).toContainEqual([
      "SMOKE_OUTPUT_TOO_LARGE",
      expect.stringMatching(
        /total 4 MiB \(largest "y", shape \[1000, 1000\]\), above validation\.smoke\.maxOutput \(1 MiB\)/,
      ),
    ]);
    expect(report.accepted).toBe(false);
    expect((await validateModel(model)).accepted).toBe(true);
  });

  it("40 chained 3000×3000 MatMuls are stopped at validation.smoke.timeout, and their process with them", async () => {
    const model = await put("matmul.onnx", matMulChain());
    const run = await validateCli(model, await smokeConfig("matmul.onnx", "{ timeout: 2s }"));
    expect(run.code, run.stderr).toBe(1);
    expect(findingsOf(run.report)).toEqual([
      {
        severity: "error",
        code: "SMOKE_TIMEOUT",
        message: expect.stringMatching(/within 2 s \(validation\.smoke\.timeout\) and was stopped.*raise it/),
      },
    ]);
    expect(run.seconds).toBeLessThan(45);
    // The smoke child was SIGKILLed with its group before validate exited.
    expect(marked()).toEqual([]);
  });

  it("a smoke child whose validate is SIGKILLed mid-run goes with it", async () => {
    const model = await put("matmul-long.onnx", matMulChain());
    const config = await smokeConfig("matmul-long.onnx", "{ timeout: 10m }");
    const args = ["--import", TSX_LOADER, BIN, "validate", model, "--json", "--config", config];
    const cli = spawn(process.execPath, args, { cwd: work, env: process.env, stdio: "ignore" });
    started.add(cli);
    const smokeChild = () => marked().filter((pid) => pid !== cli.pid);
    // Deep in the MatMuls (startup and load take about a second of CPU), where its own stdin watch is blind.
    await waitFor(
      () => smokeChild().some((pid) => cpuSecondsOf(pid) > 4),
      "the smoke child to be running",
      60_000,
    );
    cli.kill("SIGKILL");
    // No handler runs on SIGKILL: only the kernel (setpriv's parent-death signal) can stop the child.
    await waitFor(() => smokeChild().length === 0, "the smoke child to go with its parent", 20_000);
  });

  it("without prlimit, the shell's ulimit holds the limit; without either, validate says so", async () => {
    const bin = join(work, "only-sh");
    await mkdir(bin, { recursive: true });
    await symlink("/bin/sh", join(bin, "sh")).catch(() => {});
    const model = await put("bomb-sh.onnx", constantOfShapeBomb());
    const viaSh = await validateCli(model, await smokeConfig("bomb-sh.onnx", "{ memory: 256MiB }"), {
      PATH: bin,
    });
    expect(viaSh.code, viaSh.stderr).toBe(1);
    expect(findingsOf(viaSh.report).map((f) => f.code)).toContain("SMOKE_MEMORY_LIMIT");

    const iris = join(REPO, "examples", "iris", "models", "v2", "model.onnx");
    const none = await validateCli(iris, undefined, { PATH: join(work, "empty-path") });
    expect(none.code, none.stderr).toBe(0);
    expect(findingsOf(none.report)).toEqual([
      {
        severity: "warning",
        code: "SMOKE_MEMORY_UNLIMITED",
        message: expect.stringMatching(
          /not enforced: neither prlimit \(util-linux\) nor sh was found on PATH/,
        ),
      },
    ]);
  });
});

describe("a smoke run whose limits cannot be set as asked is never skipped", () => {
  const iris = join(REPO, "examples", "iris", "models", "v2", "model.onnx");
  const GiB = 2 ** 30;
  /** Run as root with CAP_SYS_RESOURCE, prlimit may raise a hard limit: drop it, as a CI user has not got it. */
  const unprivileged = () =>
    process.getuid?.() === 0 ? ["/usr/bin/setpriv", "--bounding-set=-sys_resource", "--"] : [];
  /** validate under a hard RLIMIT_DATA of `bytes`, as `ulimit -Hd` or a container would set it. */
  const underHardLimit = (bytes: number) => [
    ...unprivileged(),
    "/usr/bin/prlimit",
    `--data=${bytes}:${bytes}`,
    "--",
  ];

  it("a prlimit that cannot set the limit falls back to the shell's ulimit, which still holds the model", async () => {
    // Before: "smoke run skipped: its child process could not start (prlimit could not set the memory
    // limit …)", a warning, and the model accepted without ever being run.
    const bin = join(work, "failing-prlimit");
    await mkdir(bin, { recursive: true });
    const real = "/usr/bin/prlimit";
    await writeFile(
      join(bin, "prlimit"),
      `#!/bin/sh\ncase " $* " in *" --pid "*) echo "prlimit: failed to set the DATA resource limit: Operation not permitted" >&2; exit 1;; esac\nexec ${real} "$@"\n`,
      { mode: 0o755 },
    );
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const ok = await validateCli(iris, undefined, env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.report?.smoke?.ran).toBe(true);
    expect(findingsOf(ok.report)).toEqual([
      {
        severity: "info",
        code: "SMOKE_LIMIT_FALLBACK",
        message: expect.stringMatching(
          /prlimit could not set the smoke run's limits \(.*Operation not permitted\); the shell's ulimit set them instead/,
        ),
      },
    ]);
    const model = await put("bomb-fallback.onnx", constantOfShapeBomb());
    const bomb = await validateCli(model, await smokeConfig("bomb-fallback.onnx", "{ memory: 256MiB }"), env);
    expect(bomb.code, bomb.stderr).toBe(1);
    expect(findingsOf(bomb.report).map((f) => f.code)).toEqual([
      "ONNX_NO_INPUTS",
      "SMOKE_LIMIT_FALLBACK",
      "SMOKE_MEMORY_LIMIT",
    ]);
  });

  it("a memory limit above the hard limit is held to the hard limit, and says so", async () => {
    // Before: prlimit --pid failed (EPERM: raising a hard limit) and the model was accepted unrun.
    const config = await smokeConfig(iris, "{ memory: 64GiB }");
    const run = await validateCli(iris, config, {}, underHardLimit(3 * GiB));
    expect(run.code, run.stderr).toBe(0);
    expect(run.report?.smoke?.ran).toBe(true);
    expect(findingsOf(run.report)).toEqual([
      {
        severity: "warning",
        code: "SMOKE_LIMIT_CLAMPED",
        message: expect.stringMatching(
          /validation\.smoke\.memory \(64\.0 GiB\) is above the hard limit on this process's data segment \(3\.0 GiB, ulimit -Hd\): the model was held to \d.* GiB/,
        ),
      },
    ]);
    // The same through the shell's ulimit, which failed the same way ("onnxruntime ended with exit code 2").
    const bin = join(work, "only-sh-clamped");
    await mkdir(bin, { recursive: true });
    await symlink("/bin/sh", join(bin, "sh")).catch(() => {});
    const viaSh = await validateCli(iris, config, { PATH: bin }, underHardLimit(3 * GiB));
    expect(viaSh.code, viaSh.stderr).toBe(0);
    expect(viaSh.report?.smoke?.ran).toBe(true);
    expect(findingsOf(viaSh.report).map((f) => f.code)).toEqual(["SMOKE_LIMIT_CLAMPED"]);
  });

  it("a model over the clamped limit is rejected with the limit it was held to", async () => {
    const model = await put("bomb-clamped.onnx", constantOfShapeBomb());
    const config = await smokeConfig("bomb-clamped.onnx", "{ memory: 64GiB }");
    const run = await validateCli(model, config, {}, underHardLimit(2 * GiB));
    expect(run.code, run.stderr).toBe(1);
    const memory = findingsOf(run.report).find((f) => f.code === "SMOKE_MEMORY_LIMIT");
    expect(memory?.message).toMatch(
      /more than 1\.\d GiB of memory \(held there by the hard limit on the data segment, 2\.0 GiB, below validation\.smoke\.memory: 64\.0 GiB\).*raise the hard limit \(ulimit -Hd\)/,
    );
  });
});

describe("a valid model this runtime cannot run is a warning, not a rejection", () => {
  const codes = (report: ValidationReport) => report.findings.map((f) => [f.severity, f.code]);

  it("an opset onnxruntime has no kernel for", async () => {
    const report = await validateModel(await put("relu1.onnx", oldOpset()));
    expect(codes(report)).toEqual([["warning", "SMOKE_UNSUPPORTED"]]);
    expect(report.findings[0]?.message).toMatch(/no kernel .*Could not find an implementation for Relu\(1\)/);
    expect(report.accepted).toBe(true);
  });

  it("an operator of a domain this onnxruntime does not provide (custom ops)", async () => {
    const report = await validateModel(await put("custom-op.onnx", customDomainOp()));
    expect(codes(report)).toEqual([["warning", "SMOKE_UNSUPPORTED"]]);
    expect(report.findings[0]?.message).toMatch(/com\.example:Frobnicate.* is not a registered function\/op/);
    expect(report.accepted).toBe(true);
  });

  it("a locale this machine lacks", async () => {
    const report = await validateModel(await put("locale.onnx", missingLocale()));
    expect(codes(report)).toEqual([["warning", "SMOKE_UNSUPPORTED"]]);
    expect(report.findings[0]?.message).toMatch(/locale .* not installed/);
    expect(report.accepted).toBe(true);
  });

  it("a shape input that synthesised values cannot stand for; validation.smoke.inputs makes it run", async () => {
    const model = await put("reshape.onnx", reshapeByInput());
    const guessed = await validateModel(model);
    expect(codes(guessed)).toEqual([["warning", "SMOKE_INPUTS_NEEDED"]]);
    expect(guessed.findings[0]?.message).toMatch(/"shape".*validation\.smoke\.inputs/);
    expect(guessed.accepted).toBe(true);

    const given = await validateModel(model, {
      policy: { smoke: { inputs: { shape: { shape: [2], values: [3, 4] } } } },
    });
    expect(given.findings).toEqual([]);
    expect(given.smoke).toEqual({
      ran: true,
      inputs: [
        { name: "x", shape: [2, 6] },
        { name: "shape", shape: [2] },
      ],
      outputs: [{ name: "y", shape: [3, 4] }],
    });

    // A real shape the model cannot take is the model's (or the config's) failure again.
    const wrong = await validateModel(model, {
      policy: { smoke: { inputs: { shape: { shape: [2], values: [5, 5] } } } },
    });
    expect(codes(wrong)).toEqual([["error", "SMOKE_RUN_FAILED"]]);
    const unknown = await validateModel(model, {
      policy: { smoke: { inputs: { shap: { shape: [2], values: [3, 4] } } } },
    });
    expect(codes(unknown)).toEqual([["error", "SMOKE_INPUT_INVALID"]]);
    expect(unknown.findings[0]?.key).toBe("validation.smoke.inputs.shap");
  });
});
