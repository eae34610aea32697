// The smoke run's child process (`modelship __smoke-child`, started by smoke-process.ts under the
// limits): reads one request on stdin, loads the model in onnxruntime, runs it once and writes a
// summary on fd 3. Outputs never leave this process, only their shapes, sizes and first non-finite
// value, so a model's output size costs the parent nothing.
import { createWriteStream, readFileSync } from "node:fs";
import { loadOnnxRuntime, loadOnnxSession } from "../onnx/runtime.js";
import { errorMessage } from "../util/errors.js";
import { materialise, type PlannedInput } from "./smoke-inputs.js";

export const SMOKE_CHILD_COMMAND = "__smoke-child";
/** The file descriptor the reply goes to (stdout and stderr belong to the runtime's own logging). */
export const REPLY_FD = 3;

export interface SmokeRequest {
  modelFile: string;
  /** False: load the model only (an input cannot be made). */
  run: boolean;
  inputs: PlannedInput[];
  outputs: string[];
}

export interface OutputSummary {
  name: string;
  datatype: string;
  shape: number[];
  bytes: number;
  /** The first value that is NaN or ±Infinity. */
  nonFinite?: { index: number; value: string };
}

/** Sent once the runtime is loaded, before the model is: the parent limits memory from here on. */
export interface Ready {
  stage: "ready";
  dataBytes?: number;
}

/** Written by the shell that starts the child (the sh limiter) when a ulimit fails, instead of starting it. */
export interface LimitFailed {
  stage: "limit";
  command: string;
}

export type SmokeReply =
  | { stage: "runtime" | "load" | "run"; message: string }
  | { stage: "loaded" }
  | { stage: "done"; outputs: OutputSummary[] };

function summarise(output: { name: string; datatype: string; shape: number[]; data: ArrayLike<unknown> }) {
  const { data } = output;
  const summary: OutputSummary = {
    name: output.name,
    datatype: output.datatype,
    shape: output.shape,
    bytes: ArrayBuffer.isView(data)
      ? data.byteLength
      : Array.from(data, (v) => String(v).length).reduce((a, b) => a + b, 0),
  };
  if (data instanceof Float32Array || data instanceof Float64Array) {
    const index = data.findIndex((v) => !Number.isFinite(v));
    if (index >= 0) summary.nonFinite = { index, value: String(data[index]) };
  }
  return summary;
}

/** Lines from the parent on stdin, one at a time; stdin stays open so that its end can be seen. */
function stdinLines(): () => Promise<string> {
  let text = "";
  let waiting: { resolve: (line: string) => void; reject: (error: Error) => void } | undefined;
  const deliver = () => {
    const end = text.indexOf("\n");
    if (!waiting || end < 0) return;
    const { resolve } = waiting;
    waiting = undefined;
    resolve(text.slice(0, end));
    text = text.slice(end + 1);
  };
  process.stdin.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    deliver();
  });
  // The parent holds stdin open while it waits: its end means the parent is gone, so stop too (seen
  // between native calls; during one, the CPU-time limit is the backstop).
  process.stdin.once("end", () => process.exit(70));
  return () =>
    new Promise((resolve, reject) => {
      waiting = { resolve, reject };
      deliver();
    });
}

/** This process's data segment (what RLIMIT_DATA counts), where /proc tells it. */
function dataBytes(): number | undefined {
  try {
    const kib = /^VmData:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    return kib ? Number(kib) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function run(request: SmokeRequest): Promise<SmokeReply> {
  let session: Awaited<ReturnType<typeof loadOnnxSession>>;
  try {
    session = await loadOnnxSession(request.modelFile);
  } catch (error) {
    // loadOnnxSession's own framing (the path, the advice to validate) is for the server's callers.
    const message = errorMessage(error)
      .replace(/^onnxruntime cannot load .*?: (?=\S)/s, "")
      .replace(/; run "modelship validate".*$/s, "");
    return { stage: "load", message };
  }
  try {
    if (!request.run) return { stage: "loaded" };
    const outputs = await session.runRaw(materialise(request.inputs), request.outputs);
    return { stage: "done", outputs: outputs.map(summarise) };
  } catch (error) {
    return { stage: "run", message: errorMessage(error) };
  } finally {
    await session.release();
  }
}

/**
 * The child's whole life; returns its exit code. It loads the runtime, says how much memory that
 * took ("ready"), and waits for "go": the parent sets the memory limit in between, so the limit
 * counts what the model adds, not what node and onnxruntime need to start (node 24 alone reserves
 * ~550 MB of data segment).
 */
export async function runSmokeChild(): Promise<number> {
  const next = stdinLines();
  const request = JSON.parse(await next()) as SmokeRequest;
  const out = createWriteStream("", { fd: REPLY_FD });
  const send = (reply: SmokeReply | Ready) =>
    new Promise<void>((resolve, reject) =>
      out.write(`${JSON.stringify(reply)}\n`, (e?: Error | null) => (e ? reject(e) : resolve())),
    );
  try {
    await loadOnnxRuntime();
  } catch (error) {
    await send({ stage: "runtime", message: errorMessage(error) });
    return 0;
  }
  const data = dataBytes();
  await send({ stage: "ready", ...(data !== undefined ? { dataBytes: data } : {}) });
  if ((await next()) !== "go") return 1;
  await send(await run(request));
  out.end();
  process.stdin.destroy();
  return 0;
}
