// Smoke run: load the ONNX model in onnxruntime and run one request (inputs from validation.smoke.inputs,
// else synthesised from the signature), in a child process held to validation.smoke limits. A model the
// runtime rejects as invalid, that crashes it, goes over a limit, or whose outputs are missing, shaped
// unlike declared, or not finite, is rejected here rather than after it was built and deployed. What only
// says the model cannot run here (no kernel in this onnxruntime, a missing locale, a shape input that
// synthesised values cannot stand for) is a warning with the reason.
import { loadOnnxRuntime } from "../onnx/runtime.js";
import { ORT_VERSION } from "../onnx/runtime-install.js";
import { errorMessage } from "../util/errors.js";
import type { Finding } from "./findings.js";
import type { OnnxNode, TensorSignature } from "./onnx-inspect.js";
import type { OutputSummary } from "./smoke-child.js";
import { type PlannedInput, planInputs, shapeInputs } from "./smoke-inputs.js";
import {
  formatBytes,
  formatMs,
  SMOKE_KEYS,
  type SmokeLimits,
  type SmokeOptions,
  smokeLimits,
} from "./smoke-limits.js";
import {
  type Applied,
  type ChildOutcome,
  CPU_LIMIT_CORES,
  cpuSeconds,
  runInChild,
  START_ALLOWANCE_BYTES,
  START_TIMEOUT_MS,
} from "./smoke-process.js";

export { synthesiseInputs } from "./smoke-inputs.js";

export interface SmokeResult {
  ran: boolean;
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
}

export interface SmokeContext {
  /** validation.smoke from the config. */
  options?: SmokeOptions;
  /** Bytes of the model's files: the default memory limit grows with it. */
  modelBytes?: number;
  /** The graph's top-level nodes, to tell which inputs are shapes. */
  nodes?: OnnxNode[];
}

// What onnxruntime and V8 say when an allocation fails (the data-segment limit, or the machine).
const OOM_WORDS =
  "out of memory|Failed to allocate memory|bad_alloc|Cannot allocate memory|Allocation failed";
const OUT_OF_MEMORY = new RegExp(OOM_WORDS, "i");
/** The sentence that says so, without onnxruntime's source location before it. */
const OUT_OF_MEMORY_DETAIL = new RegExp(`(?:${OOM_WORDS})[^\\n]*`, "i");
/** onnxruntime colours its log lines (ESC is U+001B). */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

// Load errors that say this runtime cannot run a model that may well be valid.
const CANNOT_RUN_HERE: [RegExp, string][] = [
  [
    /Could not find an implementation for/,
    `this onnxruntime (${ORT_VERSION}) has no kernel for an operator at its opset and types`,
  ],
  [
    /Unsupported model IR version/,
    `the model's IR version is newer than this onnxruntime (${ORT_VERSION}) reads`,
  ],
  [
    /Opset \d+ is under development|Current official support for domain/,
    `the model's opset is newer than this onnxruntime (${ORT_VERSION}) supports`,
  ],
  [/Failed to construct locale/, "a locale the model uses is not installed on this machine"],
  // onnxruntime says this only for a domain it does not provide at all (custom ops, training ops);
  // an unknown operator of a domain it has reads "No Op registered for …" and stays an error.
  [
    /[\w.]+:\w+\(-?\d+\) is not a registered function\/op/,
    `the model uses an operator of a domain this onnxruntime (${ORT_VERSION}) does not provide (custom or training ops); onnx's checker does not judge such operators, and only a runtime that registers them can serve it`,
  ],
];

type Report = { findings: Finding[]; result?: SmokeResult };

/** onnxruntime's sentence from where `pattern` matches, without the C++ location before it. */
function said(message: string, pattern: RegExp): string {
  const at = message.search(pattern);
  return (message.slice(Math.max(0, at)).split("\n")[0] ?? "").trim().slice(0, 300);
}

/** The last meaningful line of the child's stderr, for a crash message. */
function lastLine(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.replace(COLOUR, "").trim())
    .filter((l) => l && !/^\d+: 0x[0-9a-f]+/.test(l) && !l.startsWith("----"));
  const fatal = lines.find((l) => /FATAL ERROR|terminate called|what\(\)/.test(l));
  return (fatal ?? lines.at(-1) ?? "").slice(0, 500);
}

function limitFinding(
  file: string,
  limits: SmokeLimits,
  kind: "timeout" | "memory",
  detail = "",
  applied?: Applied,
): Finding {
  if (kind === "timeout") {
    return {
      severity: "error",
      code: "SMOKE_TIMEOUT",
      message: `the smoke run did not finish within ${formatMs(limits.timeoutMs)} (${SMOKE_KEYS.timeout}) and was stopped; a model that needs longer to load and answer one request can raise it, e.g. ${SMOKE_KEYS.timeout}: 5m`,
      file,
    };
  }
  const hard = applied?.clamped.dataBytes;
  const said = detail ? `: ${detail}` : "";
  return {
    severity: "error",
    code: "SMOKE_MEMORY_LIMIT",
    message:
      applied && hard !== undefined
        ? `the smoke run needed more than ${formatBytes(applied.memoryBytes)} of memory (held there by the hard limit on the data segment, ${formatBytes(hard)}, below ${SMOKE_KEYS.memory}: ${formatBytes(limits.memoryBytes)})${said}; raise the hard limit (ulimit -Hd) of the process that runs modelship to give it more`
        : `the smoke run needed more than ${formatBytes(limits.memoryBytes)} of memory (${SMOKE_KEYS.memory})${said}; a model that needs more can raise it, e.g. ${SMOKE_KEYS.memory}: 16GiB`,
    file,
  };
}

/** Killed by its CPU-time limit (SIGXCPU): on more than 8 cores this can come before the wall time. */
function cpuFinding(file: string, limits: SmokeLimits, applied?: Applied): Finding {
  const seconds = applied?.cpuSeconds ?? cpuSeconds(limits.timeoutMs);
  const clamped = applied?.clamped.cpuSeconds !== undefined;
  const how = clamped
    ? "held to this process's hard limit, ulimit -Ht"
    : `${SMOKE_KEYS.timeout}, ${formatMs(limits.timeoutMs)}, plus ${formatMs(START_TIMEOUT_MS)}, times up to ${CPU_LIMIT_CORES} cores, plus 10 s`;
  const raise = clamped
    ? "raise the hard limit (ulimit -Ht) of the process that runs modelship to give it more"
    : `a model that needs more can raise ${SMOKE_KEYS.timeout}, e.g. ${SMOKE_KEYS.timeout}: 5m`;
  return {
    severity: "error",
    code: "SMOKE_TIMEOUT",
    message: `the smoke run used more than ${seconds} s of CPU time and was stopped (its CPU-time limit: ${how}); ${raise}`,
    file,
  };
}

/** The model was not run because the sandbox could not be set up: an error, never a skip. */
function notRun(file: string, why: string): Finding {
  return {
    severity: "error",
    code: "SMOKE_NOT_RUN",
    message: `the smoke run did not run the model: ${why}. A model is not accepted unrun; fix the machine, or turn the run off with validation.smokeRun: false`,
    file,
  };
}

/** Notes on how the limits were set: held to a hard limit, or by the shell's ulimit after prlimit failed. */
function limitNotes(outcome: ChildOutcome, file: string, limits: SmokeLimits): Finding[] {
  const notes: Finding[] = [];
  if (outcome.fallback)
    notes.push({
      severity: "info",
      code: "SMOKE_LIMIT_FALLBACK",
      message: `prlimit could not set the smoke run's limits (${outcome.fallback}); the shell's ulimit set them instead, from the child's start, with ${formatBytes(START_ALLOWANCE_BYTES)} more for node itself`,
      file,
    });
  const { applied } = outcome;
  const { dataBytes, cpuSeconds } = applied?.clamped ?? {};
  if (applied && dataBytes !== undefined)
    notes.push({
      severity: "warning",
      code: "SMOKE_LIMIT_CLAMPED",
      message: `${SMOKE_KEYS.memory} (${formatBytes(limits.memoryBytes)}) is above the hard limit on this process's data segment (${formatBytes(dataBytes)}, ulimit -Hd): the model was held to ${formatBytes(applied.memoryBytes)} on top of the started runtime; raise the hard limit to give it more`,
      file,
    });
  if (applied && cpuSeconds !== undefined)
    notes.push({
      severity: "warning",
      code: "SMOKE_LIMIT_CLAMPED",
      message: `the smoke run's CPU-time limit is above this process's hard limit (${cpuSeconds} s, ulimit -Ht): the child was held to ${cpuSeconds} s of CPU time`,
      file,
    });
  return notes;
}

/** Inputs that were synthesised although they are shapes: failures with them say nothing of the model. */
function guessedShapes(planned: PlannedInput[], nodes: OnnxNode[] | undefined): string[] {
  const synthesised = planned.filter((p) => !p.values).map((p) => p.name);
  return nodes ? shapeInputs(nodes, synthesised) : [];
}

function inputsNeeded(file: string, names: string[], what: string): Finding {
  const list = names.map((n) => `"${n}"`).join(", ");
  return {
    severity: "warning",
    code: "SMOKE_INPUTS_NEEDED",
    message: `${what} with synthesised values for ${list}, which the graph uses as a shape, size or axes, so this says nothing of the model; give real values in ${SMOKE_KEYS.inputs} (e.g. ${SMOKE_KEYS.inputs}: { ${names[0]}: [1, 4] }) to run it`,
    file,
    key: names[0] as string,
  };
}

/** Findings for what happened in the child. Pure, so every outcome is tested without a model. */
export function judgeOutcome(
  outcome: ChildOutcome,
  file: string,
  declared: TensorSignature[],
  plan: { inputs: PlannedInput[]; unrunnable?: string },
  limits: SmokeLimits,
  nodes?: OnnxNode[],
): Report {
  const planned = plan.inputs;
  const findings: Finding[] = limitNotes(outcome, file, limits);
  if (outcome.limiter === "none") {
    findings.push({
      severity: "warning",
      code: "SMOKE_MEMORY_UNLIMITED",
      message: `the smoke run's memory limit (${SMOKE_KEYS.memory}) is not enforced: neither prlimit (util-linux) nor sh was found on PATH to set it`,
      file,
    });
  }
  const error = (code: string, message: string, key?: string) =>
    findings.push({ severity: "error", code, message, file, ...(key !== undefined ? { key } : {}) });
  const guessed = guessedShapes(planned, nodes);
  switch (outcome.kind) {
    case "spawn-failed":
      findings.push(notRun(file, `its child process could not start (${outcome.message})`));
      return { findings };
    case "limit-failed": {
      const why = lastLine(outcome.stderr);
      findings.push(
        notRun(
          file,
          `its limits could not be set (${outcome.message}${why && !outcome.message.includes(why) ? `: ${why}` : ""}; ${SMOKE_KEYS.memory} is ${formatBytes(limits.memoryBytes)}), so it was stopped before the model was read`,
        ),
      );
      return { findings };
    }
    case "timeout":
      findings.push(limitFinding(file, limits, "timeout"));
      return { findings };
    case "start-timeout":
      findings.push(
        notRun(
          file,
          `its child process did not start within ${formatMs(START_TIMEOUT_MS)} (node and onnxruntime starting, before the model was read: the machine is busy); run validate again`,
        ),
      );
      return { findings };
    case "reply-too-large":
      error("SMOKE_CRASHED", "the smoke run's child process wrote more than a reply; it was stopped");
      return { findings };
    case "died": {
      const why = lastLine(outcome.stderr);
      if (outcome.signal === "SIGXCPU") findings.push(cpuFinding(file, limits, outcome.applied));
      else if (outcome.limiter !== "none" && OUT_OF_MEMORY.test(outcome.stderr))
        findings.push(
          limitFinding(
            file,
            limits,
            "memory",
            OUT_OF_MEMORY_DETAIL.exec(outcome.stderr)?.[0],
            outcome.applied,
          ),
        );
      else
        error(
          "SMOKE_CRASHED",
          `onnxruntime ended with ${outcome.signal ?? `exit code ${outcome.code}`} while loading or running the model${why ? `: ${why}` : ""}`,
        );
      return { findings };
    }
  }
  const { reply } = outcome;
  if (reply.stage === "loaded") {
    findings.push({
      severity: "info",
      code: "SMOKE_SKIPPED",
      message: `onnxruntime loads the model; no request was run: ${plan.unrunnable ?? "no inputs"}`,
      file,
    });
    return { findings };
  }
  if (reply.stage !== "done") {
    const message = reply.message;
    if (reply.stage === "runtime") {
      // This process loaded it (smokeRun), so the child not loading it is the sandbox failing.
      findings.push(notRun(file, `onnxruntime did not load in its child process (${message})`));
      return { findings };
    }
    if (OUT_OF_MEMORY.test(message)) {
      const detail = OUT_OF_MEMORY_DETAIL.exec(message)?.[0];
      // Without a limiter the limit was never set: the machine ran out, which says nothing of the limit.
      if (outcome.limiter === "none")
        error(
          reply.stage === "load" ? "ONNX_RUNTIME_LOAD_FAILED" : "SMOKE_RUN_FAILED",
          `onnxruntime ran out of memory with no memory limit set (SMOKE_MEMORY_UNLIMITED): ${detail}`,
        );
      else findings.push(limitFinding(file, limits, "memory", detail, outcome.applied));
      return { findings };
    }
    const unsupported = CANNOT_RUN_HERE.find(([pattern]) => pattern.test(message));
    if (unsupported) {
      findings.push({
        severity: "warning",
        code: "SMOKE_UNSUPPORTED",
        message: `the smoke run could not run here: ${unsupported[1]} (${said(message, unsupported[0])}). This says nothing against the model; serve it with a runtime that supports it (image.runtime)`,
        file,
      });
      return { findings };
    }
    if (reply.stage === "load") {
      error(
        "ONNX_RUNTIME_LOAD_FAILED",
        `ONNX Runtime cannot load ${file} (unknown operator for its opset, bad attribute or type): ${message}`,
      );
      return { findings };
    }
    if (guessed.length > 0) findings.push(inputsNeeded(file, guessed, `the run failed (${message.trim()})`));
    else
      error(
        "SMOKE_RUN_FAILED",
        `${file} failed on ${planned.some((p) => p.values) ? `the request from ${SMOKE_KEYS.inputs}` : "a synthesised request"}: ${message}`,
      );
    return { findings };
  }
  return judgeOutputs(reply.outputs, file, declared, planned, limits, guessed, findings);
}

function judgeOutputs(
  outputs: OutputSummary[],
  file: string,
  declared: TensorSignature[],
  planned: PlannedInput[],
  limits: SmokeLimits,
  guessed: string[],
  findings: Finding[],
): Report {
  const bytes = outputs.reduce((n, o) => n + o.bytes, 0);
  if (bytes > limits.maxOutputBytes) {
    const largest = outputs.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    findings.push({
      severity: "error",
      code: "SMOKE_OUTPUT_TOO_LARGE",
      message: `one request's outputs total ${formatBytes(bytes)} (largest "${largest.name}", shape [${largest.shape.join(", ")}]), above ${SMOKE_KEYS.maxOutput} (${formatBytes(limits.maxOutputBytes)}); a model that answers this much can raise it, e.g. ${SMOKE_KEYS.maxOutput}: 1GiB`,
      file,
      key: largest.name,
    });
  }
  const misshapen: OutputSummary[] = [];
  outputs.forEach((output, i) => {
    const spec = declared[i];
    if (!spec) return;
    const rankOk = spec.shape.length === 0 || spec.shape.length === output.shape.length;
    const dimsOk = rankOk && spec.shape.every((d, j) => typeof d !== "number" || d === output.shape[j]);
    if (!dimsOk) misshapen.push(output);
    if (output.nonFinite) {
      findings.push({
        severity: "error",
        code: "SMOKE_OUTPUT_NOT_FINITE",
        message: `output "${spec.name}" holds ${output.nonFinite.value} at index ${output.nonFinite.index} for ${planned.some((p) => p.values) ? "the smoke request" : "a synthesised input"}`,
        file,
        key: spec.name,
      });
    }
  });
  for (const output of misshapen) {
    const spec = declared.find((d) => d.name === output.name);
    const what = `output "${output.name}" has shape [${output.shape.join(", ")}] but the model declares [${spec?.shape.map((d) => d ?? "?").join(", ")}]`;
    if (guessed.length > 0) findings.push(inputsNeeded(file, guessed, what));
    else
      findings.push({ severity: "error", code: "SMOKE_OUTPUT_SHAPE", message: what, file, key: output.name });
  }
  return {
    findings,
    result: {
      ran: true,
      inputs: planned.map((t) => ({ name: t.name, shape: t.shape })),
      outputs: outputs.map((o) => ({ name: o.name, shape: o.shape })),
    },
  };
}

export async function smokeRun(
  modelFile: string,
  file: string,
  declared: { inputs: TensorSignature[]; outputs: TensorSignature[] },
  context: SmokeContext = {},
): Promise<Report> {
  const limits = smokeLimits(context.options, context.modelBytes ?? 0);
  const plan = planInputs(declared.inputs, limits.inputs);
  if ("invalid" in plan) {
    const key = `${SMOKE_KEYS.inputs}.${plan.key}`;
    return {
      findings: [
        { severity: "error", code: "SMOKE_INPUT_INVALID", message: `${key}: ${plan.invalid}`, file, key },
      ],
    };
  }
  try {
    // Here, not in the child: a first-use install must not count against the model's time limit.
    await loadOnnxRuntime();
  } catch (error) {
    return {
      findings: [
        {
          severity: "warning",
          code: "SMOKE_SKIPPED",
          message: `smoke run skipped: ${errorMessage(error)}`,
          file,
        },
      ],
    };
  }
  const outcome = await runInChild(
    {
      modelFile,
      run: plan.unrunnable === undefined,
      inputs: plan.inputs,
      outputs: declared.outputs.map((o) => o.name),
    },
    limits,
  );
  return judgeOutcome(outcome, file, declared.outputs, plan, limits, context.nodes);
}
