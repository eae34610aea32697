// The smoke run's pure parts: its limits and their config keys, the request it makes, how it starts
// its child under limits, and what each way the child can end means for the model. The child itself
// runs in test/integration/smoke-run.test.ts.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/index.js";
import type { OnnxNode, TensorSignature } from "../../src/model/onnx-inspect.js";
import { judgeOutcome } from "../../src/model/smoke.js";
import { materialise, planInputs, shapeInputs, tensorFromNested } from "../../src/model/smoke-inputs.js";
import { SMOKE_DEFAULTS, type SmokeLimits, smokeLimits } from "../../src/model/smoke-limits.js";
import {
  type ChildOutcome,
  cpuSeconds,
  hardLimits,
  limitedCommand,
  pidLimits,
  runInChild,
  START_ALLOWANCE_BYTES,
} from "../../src/model/smoke-process.js";
import { configError } from "./config-helpers.js";

const base = "model: { name: m, path: models/v1 }\n";
const GiB = 2 ** 30;

describe("validation.smoke in modelship.yml", () => {
  it("reads timeout, memory, maxOutput and inputs as nested lists", () => {
    const config = parseConfig(
      `${base}validation:\n  smoke:\n    timeout: 5m\n    memory: 4GiB\n    maxOutput: 1GiB\n    inputs:\n      shape: [3, 4]\n      x: [[0.5, 1], [2, 3]]\n      flag: true\n`,
      "/w/modelship.yml",
    );
    expect(config.validation.smoke).toEqual({
      timeoutMs: 300_000,
      memoryBytes: 4 * GiB,
      maxOutputBytes: GiB,
      inputs: {
        shape: { shape: [2], values: [3, 4] },
        x: { shape: [2, 2], values: [0.5, 1, 2, 3] },
        flag: { shape: [], values: [true] },
      },
    });
  });

  it("leaves the policy as it was when the section is absent", () => {
    expect(parseConfig(base, "/w/modelship.yml").validation.smoke).toBeUndefined();
  });

  it.each([
    ["timeout: 0", "validation.smoke.timeout", /greater than 0/],
    ["memory: 1MB", "validation.smoke.memory", /at least 64MiB/],
    ["maxOutput: lots", "validation.smoke.maxOutput", /not a size/],
    [
      "inputs: { x: [[1], [2, 3]] }",
      "validation.smoke.inputs.x",
      /\[1\] has 2 entries where the first row has 1/,
    ],
    ["inputs: { x: [1, [2]] }", "validation.smoke.inputs.x", /\[1\] is a list where a value belongs/],
    ["inputs: { x: hello }", "validation.smoke.inputs.x", /./],
    ["tiemout: 5s", "tiemout", /./],
  ])("rejects %s with the key and line", (line, key, message) => {
    const error = configError(() =>
      parseConfig(`${base}validation:\n  smoke:\n    ${line}\n`, "/w/modelship.yml"),
    );
    expect(error.message).toContain(key);
    expect(error.message).toMatch(/modelship\.yml:4:/);
    expect(error.message).toMatch(message);
  });
});

describe("smokeLimits", () => {
  it("defaults to 60 s, 256 MiB of outputs and 2 GiB plus three times the model's size", () => {
    expect(smokeLimits(undefined, 0)).toEqual({
      timeoutMs: 60_000,
      memoryBytes: 2 * GiB,
      maxOutputBytes: 256 * 2 ** 20,
      inputs: {},
    });
    expect(smokeLimits(undefined, GiB).memoryBytes).toBe(SMOKE_DEFAULTS.memoryBaseBytes + 3 * GiB);
    expect(smokeLimits({ memoryBytes: 512 * 2 ** 20 }, 10 * GiB).memoryBytes).toBe(512 * 2 ** 20);
  });
});

const sig = (name: string, dtype: string, shape: (number | string | null)[]): TensorSignature => ({
  name,
  dtype,
  shape,
});

describe("the smoke request", () => {
  it("reads nested lists as shape and row-major values", () => {
    expect(tensorFromNested([[1, 2, 3]])).toEqual({ shape: [1, 3], values: [1, 2, 3] });
    expect(tensorFromNested(7)).toEqual({ shape: [], values: [7] });
    expect(tensorFromNested([])).toEqual({ shape: [0], values: [] });
  });

  it("uses given values, synthesises the rest with dynamic dims as 1", () => {
    const plan = planInputs([sig("x", "FP32", ["N", 6]), sig("shape", "INT64", [2])], {
      shape: { shape: [2], values: [3, 4] },
    });
    expect(plan).toEqual({
      inputs: [
        { name: "x", datatype: "FP32", shape: [1, 6] },
        { name: "shape", datatype: "INT64", shape: [2], values: [3, 4] },
      ],
    });
    if (!("inputs" in plan)) throw new Error("no plan");
    const [x, shape] = materialise(plan.inputs);
    expect(x?.data).toEqual(new Float32Array(6).fill(0.5));
    expect(shape?.data).toEqual(new BigInt64Array([3n, 4n]));
  });

  it("refuses given values that do not fit the input, naming it", () => {
    const x = sig("x", "INT64", ["N", 2]);
    expect(planInputs([x], { y: { shape: [1], values: [1] } })).toEqual({
      invalid: 'the model has no input "y" (its inputs: x)',
      key: "y",
    });
    expect(planInputs([x], { x: { shape: [2], values: [1, 2] } })).toMatchObject({
      key: "x",
      invalid: /rank 1/,
    });
    expect(planInputs([sig("x", "INT64", [1, 2])], { x: { shape: [2, 1], values: [1, 2] } })).toMatchObject({
      invalid: /shape \[2, 1\] but the model declares \[1, 2\]/,
    });
    expect(planInputs([x], { x: { shape: [1, 2], values: [1, 0.5] } })).toMatchObject({
      invalid: /value 1 \(0.5\) does not fit INT64/,
    });
  });

  it("loads without running when an input cannot be synthesised", () => {
    expect(planInputs([sig("s", "BYTES", [1])], {})).toMatchObject({
      unrunnable: /BYTES, which cannot be synthesised/,
    });
    expect(planInputs([sig("a", "FP32", [100000, 100000])], {})).toMatchObject({ unrunnable: /would need/ });
  });

  it("finds the graph inputs used as shapes, sizes or axes", () => {
    const nodes: OnnxNode[] = [
      { opType: "Reshape", domain: "", inputs: ["x", "shape"], outputs: ["r"] },
      { opType: "Slice", domain: "", inputs: ["r", "starts", "ends"], outputs: ["s"] },
      { opType: "Add", domain: "", inputs: ["s", "bias"], outputs: ["y"] },
      { opType: "Reshape", domain: "com.example", inputs: ["y", "other"], outputs: ["z"] },
    ];
    expect(shapeInputs(nodes, ["x", "shape", "starts", "ends", "bias", "other"])).toEqual([
      "shape",
      "starts",
      "ends",
    ]);
  });
});

describe("the child's command line", () => {
  const argv = ["/usr/bin/node", "cli.js", "__smoke-child"];
  const limits = { timeoutMs: 30_000, memoryBytes: GiB };
  const unlimited = { dataBytes: Number.POSITIVE_INFINITY, cpuSeconds: Number.POSITIVE_INFINITY };

  it("with prlimit, sets the data and CPU limits on the started child, to what it has plus the limit", () => {
    expect(limitedCommand(argv, limits, { prlimit: "/usr/bin/prlimit", sh: "/bin/sh" }, unlimited)).toEqual({
      argv,
      limiter: "prlimit",
    });
    expect(pidLimits(42, { stage: "ready", dataBytes: 600 * 2 ** 20 }, limits, unlimited)).toEqual({
      args: ["--pid", "42", `--data=${600 * 2 ** 20 + GiB}`, `--cpu=${cpuSeconds(30_000)}`],
      applied: { memoryBytes: GiB, cpuSeconds: cpuSeconds(30_000), clamped: {} },
    });
  });

  it("holds the limits to the hard limits this process runs under, and says which", () => {
    const hard = { dataBytes: 1.5 * GiB, cpuSeconds: 30 };
    expect(pidLimits(42, { stage: "ready", dataBytes: GiB / 2 }, limits, hard)).toEqual({
      args: ["--pid", "42", `--data=${1.5 * GiB}`, "--cpu=30"],
      applied: { memoryBytes: GiB, cpuSeconds: 30, clamped: { cpuSeconds: 30 } },
    });
    expect(pidLimits(42, { stage: "ready", dataBytes: GiB }, limits, hard).applied).toEqual({
      memoryBytes: GiB / 2,
      cpuSeconds: 30,
      clamped: { dataBytes: 1.5 * GiB, cpuSeconds: 30 },
    });
    const sh = limitedCommand(argv, limits, { sh: "/bin/sh" }, hard);
    expect(sh.argv.slice(4)).toEqual([String((1.5 * GiB) / 1024), "30", ...argv]);
    expect(sh.applied).toEqual({
      memoryBytes: GiB / 2,
      cpuSeconds: 30,
      clamped: { dataBytes: 1.5 * GiB, cpuSeconds: 30 },
    });
  });

  it("bounds the CPU-time backstop: (timeout + 60 s) × the cores, at most 8, + 10 s", () => {
    // Before: × every core, so 7690 CPU-seconds (over two hours of one busy thread) on 64 cores.
    expect(cpuSeconds(60_000, 2)).toBe(120 * 2 + 10);
    expect(cpuSeconds(60_000, 8)).toBe(120 * 8 + 10);
    expect(cpuSeconds(60_000, 64)).toBe(120 * 8 + 10);
    expect(cpuSeconds(1_500, 1)).toBe(62 + 10);
  });

  it("reads the hard limits from /proc/self/limits", () => {
    const table = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max cpu time              unlimited            600                  seconds   ",
      "Max file size             unlimited            unlimited            bytes     ",
      "Max data size             1073741824           3221225472           bytes     ",
    ].join("\n");
    expect(hardLimits(table)).toEqual({ dataBytes: 3 * GiB, cpuSeconds: 600 });
    expect(hardLimits("Max data size unlimited unlimited bytes")).toEqual({
      dataBytes: Number.POSITIVE_INFINITY,
      cpuSeconds: Number.POSITIVE_INFINITY,
    });
    const own = hardLimits();
    expect(own.dataBytes).toBeGreaterThan(0);
  });

  it("falls back to the shell's ulimit (KiB, with an allowance for node) and says when neither exists", () => {
    const sh = limitedCommand(argv, limits, { sh: "/bin/sh" }, unlimited);
    expect(sh.limiter).toBe("sh");
    expect(sh.argv.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
    expect(sh.argv.slice(4)).toEqual([
      String((GiB + START_ALLOWANCE_BYTES) / 1024),
      String(cpuSeconds(30_000)),
      ...argv,
    ]);
    expect(limitedCommand(argv, limits, {}, unlimited)).toEqual({ argv, limiter: "none" });
  });

  it("has the kernel kill the child with its parent where setpriv exists", () => {
    const tools = { prlimit: "/usr/bin/prlimit", setpriv: "/usr/bin/setpriv" };
    expect(limitedCommand(argv, limits, tools, unlimited).argv).toEqual([
      "/usr/bin/setpriv",
      "--pdeathsig",
      "KILL",
      "--",
      ...argv,
    ]);
  });
});

describe("a child whose sandbox fails", () => {
  const request = { modelFile: "/nonexistent.onnx", run: true, inputs: [], outputs: [] };
  const limits = { timeoutMs: 5_000, memoryBytes: GiB };

  it("that cannot be spawned is an outcome, not a throw", async () => {
    const outcome = await runInChild(request, limits, { setpriv: "/nonexistent/setpriv" });
    expect(outcome).toMatchObject({ kind: "spawn-failed", message: expect.stringMatching(/ENOENT/) });
  });

  it("whose ulimit fails says the limit could not be set, not that onnxruntime ended", async () => {
    // Before: "onnxruntime ended with exit code 2 while loading or running the model: …bad number".
    const huge = { timeoutMs: 5_000, memoryBytes: 1e30 };
    const outcome = await runInChild(request, huge, { sh: "/bin/sh" });
    expect(outcome).toMatchObject({ kind: "limit-failed", limiter: "sh" });
    const plan = { inputs: [] };
    const limitsOf = { ...huge, maxOutputBytes: 1, inputs: {} };
    expect(judgeOutcome(outcome, "m.onnx", [], plan, limitsOf).findings).toEqual([
      expect.objectContaining({
        severity: "error",
        code: "SMOKE_NOT_RUN",
        message: expect.stringMatching(
          /its limits could not be set \(ulimit -d \S+ failed: .*ulimit: .*; validation\.smoke\.memory is .*\), so it was stopped before the model was read/,
        ),
      }),
    ]);
  }, 60_000);

  it("whose prlimit fails and has no shell to fall back on is stopped before the model is read", async () => {
    const outcome = await runInChild(request, limits, { prlimit: "/bin/false" });
    expect(outcome).toMatchObject({
      kind: "limit-failed",
      limiter: "prlimit",
      fallback: expect.stringMatching(/^prlimit --pid \d+ --data=\d+ --cpu=\d+: /),
    });
  }, 60_000);
});

describe("judging how the child ended", () => {
  const file = "model.onnx";
  const limits: SmokeLimits = {
    timeoutMs: 2_000,
    memoryBytes: 512 * 2 ** 20,
    maxOutputBytes: 1024,
    inputs: {},
  };
  const declared = [sig("y", "FP32", [3, 4])];
  const synthesised = {
    inputs: [
      { name: "x", datatype: "FP32", shape: [2, 6] },
      { name: "shape", datatype: "INT64", shape: [2] },
    ],
  };
  const reshape: OnnxNode[] = [{ opType: "Reshape", domain: "", inputs: ["x", "shape"], outputs: ["y"] }];
  const judge = (
    outcome: Partial<ChildOutcome> & Pick<ChildOutcome, "kind">,
    nodes?: OnnxNode[],
    plan = synthesised,
  ) =>
    judgeOutcome(
      { limiter: "prlimit", stderr: "", ...outcome } as ChildOutcome,
      file,
      declared,
      plan,
      limits,
      nodes,
    ).findings.map((f) => [f.severity, f.code, f.message]);
  const reply = (r: object) => ({ kind: "reply" as const, reply: r as never });

  it("names the limit and the key that raises it", () => {
    expect(judge({ kind: "timeout" })).toEqual([
      [
        "error",
        "SMOKE_TIMEOUT",
        expect.stringMatching(/within 2 s \(validation\.smoke\.timeout\).*raise it/),
      ],
    ]);
    // The CPU-time limit, not the wall time, stopped it: say which (it can come first on many cores).
    expect(judge({ kind: "died", code: null, signal: "SIGXCPU" })).toEqual([
      [
        "error",
        "SMOKE_TIMEOUT",
        `the smoke run used more than ${cpuSeconds(2_000)} s of CPU time and was stopped (its CPU-time limit: validation.smoke.timeout, 2 s, plus 60 s, times up to 8 cores, plus 10 s); a model that needs more can raise validation.smoke.timeout, e.g. validation.smoke.timeout: 5m`,
      ],
    ]);
    const v8 =
      "<--- JS stacktrace --->\n\nFATAL ERROR: v8::ArrayBuffer::New Allocation failed - process out of memory\n 1: 0xb7a3e0 node::Abort() [node]\n";
    expect(judge({ kind: "died", code: null, signal: "SIGABRT", stderr: v8 })).toEqual([
      [
        "error",
        "SMOKE_MEMORY_LIMIT",
        expect.stringMatching(
          /more than 512 MiB of memory \(validation\.smoke\.memory\): Allocation failed - process out of memory; .*raise it/,
        ),
      ],
    ]);
    const arena =
      "Non-zero status code returned while running ConstantOfShape node. Status Message: /ort/bfc_arena.cc:360 void* AllocateRawInternal(size_t) Failed to allocate memory for requested buffer of size 2000000000\n";
    expect(judge(reply({ stage: "run", message: arena }))).toEqual([
      [
        "error",
        "SMOKE_MEMORY_LIMIT",
        expect.stringMatching(/: Failed to allocate memory for requested buffer of size 2000000000;/),
      ],
    ]);
    const big = { name: "y", datatype: "FP32", shape: [3, 4], bytes: 4096 };
    expect(judge(reply({ stage: "done", outputs: [big] }))).toEqual([
      [
        "error",
        "SMOKE_OUTPUT_TOO_LARGE",
        expect.stringMatching(/4 KiB .*above validation\.smoke\.maxOutput \(1 KiB\)/),
      ],
    ]);
  });

  it("calls a crash a crash, and a sandbox that broke a model not run: an error, never a skip", () => {
    expect(judge({ kind: "died", code: null, signal: "SIGSEGV", stderr: "Segmentation fault\n" })).toEqual([
      [
        "error",
        "SMOKE_CRASHED",
        "onnxruntime ended with SIGSEGV while loading or running the model: Segmentation fault",
      ],
    ]);
    // Before: warnings (SMOKE_SKIPPED), and the model accepted without ever being run.
    expect(judge({ kind: "start-timeout" })).toEqual([
      [
        "error",
        "SMOKE_NOT_RUN",
        expect.stringMatching(/did not start within 60 s .*before the model was read/),
      ],
    ]);
    expect(judge({ kind: "spawn-failed", message: "spawn /x ENOENT" })).toEqual([
      ["error", "SMOKE_NOT_RUN", expect.stringMatching(/could not start \(spawn \/x ENOENT\)/)],
    ]);
    expect(judge(reply({ stage: "runtime", message: "cannot load onnxruntime-node" }))).toEqual([
      ["error", "SMOKE_NOT_RUN", expect.stringMatching(/onnxruntime did not load in its child process/)],
    ]);
    const prlimit = "prlimit --pid 7 --data=1 --cpu=130: prlimit: failed to set the DATA resource limit";
    expect(judge({ kind: "limit-failed", message: prlimit, fallback: prlimit })).toEqual([
      ["info", "SMOKE_LIMIT_FALLBACK", expect.stringContaining(prlimit)],
      [
        "error",
        "SMOKE_NOT_RUN",
        expect.stringMatching(/its limits could not be set .*before the model was read/),
      ],
    ]);
  });

  it("says when prlimit gave way to the shell, and which limit a hard limit lowered", () => {
    const ok = reply({ stage: "done", outputs: [{ name: "y", datatype: "FP32", shape: [3, 4], bytes: 48 }] });
    const applied = {
      memoryBytes: 100 * 2 ** 20,
      cpuSeconds: 20,
      clamped: { dataBytes: GiB, cpuSeconds: 20 },
    };
    expect(judge({ ...ok, limiter: "sh", fallback: "prlimit --pid 7: EPERM", applied })).toEqual([
      [
        "info",
        "SMOKE_LIMIT_FALLBACK",
        expect.stringMatching(/\(prlimit --pid 7: EPERM\); the shell's ulimit/),
      ],
      [
        "warning",
        "SMOKE_LIMIT_CLAMPED",
        "validation.smoke.memory (512 MiB) is above the hard limit on this process's data segment (1.0 GiB, ulimit -Hd): the model was held to 100 MiB on top of the started runtime; raise the hard limit to give it more",
      ],
      ["warning", "SMOKE_LIMIT_CLAMPED", expect.stringMatching(/hard limit \(20 s, ulimit -Ht\)/)],
    ]);
    const oom = reply({ stage: "run", message: "Failed to allocate memory for requested buffer" });
    expect(judge({ ...oom, applied }).at(-1)).toEqual([
      "error",
      "SMOKE_MEMORY_LIMIT",
      expect.stringMatching(
        /more than 100 MiB of memory \(held there by the hard limit on the data segment, 1\.0 GiB, below validation\.smoke\.memory: 512 MiB\)/,
      ),
    ]);
  });

  it("warns, not rejects, when this runtime cannot run a model that may be valid", () => {
    for (const [message, reason, sentence] of [
      ["Could not find an implementation for Relu(1) node with name 'Relu_0'", /no kernel/, "Could not find"],
      [
        "Exception during initialization: string_normalizer.cc:235 Failed to construct locale with name:fr_FR.UTF-8",
        /locale .* not installed/,
        "(Failed to construct locale with name:fr_FR.UTF-8)",
      ],
      [
        "Load model failed: model.cc:202 Unsupported model IR version: 12, max supported IR version: 10",
        /IR version is newer/,
        "(Unsupported model IR version: 12",
      ],
      [
        "model_load_utils.h:46 ValidateOpsetForDomain ONNX Runtime only *guarantees* support for models stamped with official released onnx opset versions. Opset 27 is under development and support for this is limited.",
        /opset is newer/,
        "(Opset 27 is under development",
      ],
      [
        "Load model from m.onnx failed:Fatal error: com.example:NoSuchOp(-1) is not a registered function/op",
        /domain this onnxruntime .* does not provide/,
        "(com.example:NoSuchOp(-1) is not a registered function/op)",
      ],
    ] as const) {
      const [finding] = judge(reply({ stage: "load", message }));
      expect(finding?.slice(0, 2)).toEqual(["warning", "SMOKE_UNSUPPORTED"]);
      expect(finding?.[2]).toMatch(reason);
      expect(finding?.[2]).toContain(sentence);
    }
    expect(
      judge(
        reply({ stage: "load", message: "No Op registered for Frobnicate with domain_version of 13" }),
      )[0]?.slice(0, 2),
    ).toEqual(["error", "ONNX_RUNTIME_LOAD_FAILED"]);
  });

  it("warns when a synthesised shape input is all the run failed on, and says which key gives it", () => {
    const failed = reply({
      stage: "run",
      message: "Reshape: the input tensor cannot be reshaped to the requested shape",
    });
    expect(judge(failed, reshape)).toEqual([
      ["warning", "SMOKE_INPUTS_NEEDED", expect.stringMatching(/"shape".*validation\.smoke\.inputs/)],
    ]);
    const misshapen = reply({
      stage: "done",
      outputs: [{ name: "y", datatype: "FP32", shape: [2, 6], bytes: 48 }],
    });
    expect(judge(misshapen, reshape)[0]?.slice(0, 2)).toEqual(["warning", "SMOKE_INPUTS_NEEDED"]);
    // Without a shape input in the way, the same failures are the model's.
    expect(judge(failed)[0]?.slice(0, 2)).toEqual(["error", "SMOKE_RUN_FAILED"]);
    expect(judge(misshapen)[0]?.slice(0, 2)).toEqual(["error", "SMOKE_OUTPUT_SHAPE"]);
    // Given in the config, the shape is real: a failure is the model's again.
    const given = {
      inputs: [
        synthesised.inputs[0] as never,
        { name: "shape", datatype: "INT64", shape: [2], values: [3, 4] },
      ],
    };
    expect(judge(failed, reshape, given)[0]?.slice(0, 2)).toEqual(["error", "SMOKE_RUN_FAILED"]);
  });

  it("does not blame a limit that was not enforced for running out of memory", () => {
    // Before: "needed more than 512 MiB of memory (validation.smoke.memory)", a limit that was never set.
    const oom = reply({
      stage: "run",
      message: "bfc_arena.cc:360 Failed to allocate memory for requested buffer",
    });
    const findings = judgeOutcome(
      { limiter: "none", stderr: "", ...oom } as ChildOutcome,
      file,
      declared,
      synthesised,
      limits,
    ).findings;
    expect(findings.map((f) => [f.severity, f.code, f.message])).toEqual([
      ["warning", "SMOKE_MEMORY_UNLIMITED", expect.any(String)],
      [
        "error",
        "SMOKE_RUN_FAILED",
        expect.stringMatching(
          /ran out of memory with no memory limit set \(SMOKE_MEMORY_UNLIMITED\): Failed to allocate memory/,
        ),
      ],
    ]);
  });

  it("reports the run and warns when nothing enforces the memory limit", () => {
    const ok = reply({ stage: "done", outputs: [{ name: "y", datatype: "FP32", shape: [3, 4], bytes: 48 }] });
    const outcome = { limiter: "none", stderr: "", ...ok } as ChildOutcome;
    const report = judgeOutcome(outcome, file, declared, synthesised, limits);
    expect(report.findings.map((f) => [f.severity, f.code])).toEqual([["warning", "SMOKE_MEMORY_UNLIMITED"]]);
    expect(report.result).toEqual({
      ran: true,
      inputs: [
        { name: "x", shape: [2, 6] },
        { name: "shape", shape: [2] },
      ],
      outputs: [{ name: "y", shape: [3, 4] }],
    });
  });
});
