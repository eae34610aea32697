// Runs the smoke child under limits: its data segment (RLIMIT_DATA, which since Linux 4.7 counts
// malloc and private writable mmap, so onnxruntime's arena as well as V8's heap) and CPU time set from
// outside with prlimit (node cannot set its own rlimits; an address-space limit would break V8's
// reservations), a wall-time limit enforced here by killing its process group, and a bounded reply.
// Limits above the hard limits this process runs under are held to them; when prlimit cannot set them
// the shell's ulimit does, and when nothing can, the outcome says so: the model is never run unlimited
// because a limit failed.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { trackChild } from "../util/child-cleanup.js";
import { errorMessage } from "../util/errors.js";
import { selfInvocation } from "../util/self.js";
import {
  type LimitFailed,
  REPLY_FD,
  type Ready,
  SMOKE_CHILD_COMMAND,
  type SmokeReply,
  type SmokeRequest,
} from "./smoke-child.js";

/** The reply is a summary of a few lines; anything longer is not our child speaking. */
const MAX_REPLY_BYTES = 1 << 20;
/** The end of the child's stderr kept for messages (onnxruntime logs its errors there). */
const STDERR_TAIL_BYTES = 16 << 10;
/** What node and onnxruntime take before the model where it cannot be measured first (the sh fallback). */
export const START_ALLOWANCE_BYTES = 2 ** 30;
/** Node and onnxruntime starting, before the model is touched: slow only on a loaded machine. */
export const START_TIMEOUT_MS = 60_000;

/**
 * How the memory limit is applied: prlimit (util-linux) on the running child once it has started, so
 * the limit counts what the model adds; else the shell's ulimit from the start, with an allowance for
 * node itself; else not at all.
 */
export type Limiter = "prlimit" | "sh" | "none";

export interface ChildLimits {
  timeoutMs: number;
  memoryBytes: number;
}

/** The hard limits this process runs under (`ulimit -H`), which its child inherits: no limit set on the
 * child can go above them without privilege. Infinity where there is none. */
export interface HardLimits {
  dataBytes: number;
  cpuSeconds: number;
}

/** What the child was held to, once its limits were set. */
export interface Applied {
  /** Memory the model could add: validation.smoke.memory, or less where a hard limit is lower. */
  memoryBytes: number;
  cpuSeconds: number;
  /** The hard limits that lowered a limit, where one did. */
  clamped: { dataBytes?: number; cpuSeconds?: number };
}

export type ChildOutcome = {
  limiter: Limiter;
  stderr: string;
  /** Absent when the limits were never set (limiter none, or the child ended before). */
  applied?: Applied;
  /** Why prlimit was given up for the shell's ulimit. */
  fallback?: string;
} & (
  | { kind: "reply"; reply: SmokeReply }
  | { kind: "timeout" }
  | { kind: "start-timeout" }
  | { kind: "died"; code: number | null; signal: NodeJS.Signals | null }
  | { kind: "reply-too-large" }
  | { kind: "spawn-failed"; message: string }
  /** A limit could not be set: the child was stopped before the model was read. */
  | { kind: "limit-failed"; message: string }
);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on PATH. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export interface Tools {
  prlimit?: string | undefined;
  sh?: string | undefined;
  setpriv?: string | undefined;
}

const findTools = (): Tools => ({ prlimit: onPath("prlimit"), sh: onPath("sh"), setpriv: onPath("setpriv") });

/** /proc/self/limits' hard limits (the text is a parameter for tests). */
export function hardLimits(text?: string): HardLimits {
  let table = text;
  try {
    table ??= readFileSync("/proc/self/limits", "utf8");
  } catch {
    return { dataBytes: Number.POSITIVE_INFINITY, cpuSeconds: Number.POSITIVE_INFINITY };
  }
  const hard = (name: string) => {
    const value = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, "m").exec(table)?.[1];
    const n = Number(value);
    return value === undefined || value === "unlimited" || !Number.isFinite(n) ? Number.POSITIVE_INFINITY : n;
  };
  return { dataBytes: hard("Max data size"), cpuSeconds: hard("Max cpu time") };
}

/** The cores the CPU-time limit counts: more would let an orphan spin for hours on a big machine. */
export const CPU_LIMIT_CORES = 8;

/** CPU seconds: (timeout + the start's minute) × the cores, at most CPU_LIMIT_CORES, + 10 s. It stops a
 * child whose parent was SIGKILLed while it was deep in a native call, where setpriv is missing; on up
 * to 8 cores never before the wall-time limits, on more it can come first for a model that keeps more
 * than 8 cores busy (reported as CPU time, raised with validation.smoke.timeout). */
export const cpuSeconds = (timeoutMs: number, cores = availableParallelism()) =>
  Math.ceil((timeoutMs + START_TIMEOUT_MS) / 1000) * Math.min(Math.max(1, cores), CPU_LIMIT_CORES) + 10;

/** A data-segment limit of `want` bytes for a child that starts with `base`, held to the hard limits. */
function apply(want: number, base: number, limits: ChildLimits, hard: HardLimits) {
  const cpu = cpuSeconds(limits.timeoutMs);
  const data = Math.floor(Math.min(want, hard.dataBytes));
  const applied: Applied = {
    memoryBytes: Math.max(0, data - base),
    cpuSeconds: Math.min(cpu, hard.cpuSeconds),
    clamped: {
      ...(want > hard.dataBytes ? { dataBytes: hard.dataBytes } : {}),
      ...(cpu > hard.cpuSeconds ? { cpuSeconds: hard.cpuSeconds } : {}),
    },
  };
  return { data, applied };
}

/** The shell's script: set both limits or say on the reply fd which one failed, then become the child. */
const ULIMIT_SCRIPT = [
  `ulimit -d "$1" || { printf '{"stage":"limit","command":"ulimit -d %s"}\\n' "$1" >&${REPLY_FD}; exit 1; }`,
  `ulimit -t "$2" || { printf '{"stage":"limit","command":"ulimit -t %s"}\\n' "$2" >&${REPLY_FD}; exit 1; }`,
  'shift 2 && exec "$@"',
].join("\n");

/**
 * The command line that starts `argv` under the limits that can be set before it runs: with prlimit,
 * none (they are set on the started child, see pidLimits); with sh, both, from the start.
 */
export function limitedCommand(
  argv: string[],
  limits: ChildLimits,
  tools: Tools,
  hard: HardLimits = hardLimits(),
): { argv: string[]; limiter: Limiter; applied?: Applied } {
  // setpriv (util-linux) asks the kernel to SIGKILL the child when this process dies, even by SIGKILL,
  // which no handler here can see. Each tool execs the next: the pid, and so the group, stays the child's.
  const orphanKill = tools.setpriv ? [tools.setpriv, "--pdeathsig", "KILL", "--"] : [];
  if (tools.prlimit) return { argv: [...orphanKill, ...argv], limiter: "prlimit" };
  if (tools.sh) {
    const { data, applied } = apply(
      limits.memoryBytes + START_ALLOWANCE_BYTES,
      START_ALLOWANCE_BYTES,
      limits,
      hard,
    );
    // ulimit -d takes KiB.
    const kib = Math.floor(data / 1024);
    return {
      argv: [
        ...orphanKill,
        tools.sh,
        "-c",
        ULIMIT_SCRIPT,
        "sh",
        String(kib),
        String(applied.cpuSeconds),
        ...argv,
      ],
      limiter: "sh",
      applied,
    };
  }
  return { argv: [...orphanKill, ...argv], limiter: "none" };
}

/** prlimit's arguments that limit the started child to what it has plus `memoryBytes`, and its CPU time. */
export function pidLimits(
  pid: number,
  ready: Ready,
  limits: ChildLimits,
  hard: HardLimits = hardLimits(),
): { args: string[]; applied: Applied } {
  const base = ready.dataBytes ?? START_ALLOWANCE_BYTES;
  const { data, applied } = apply(base + limits.memoryBytes, base, limits, hard);
  return {
    args: ["--pid", String(pid), `--data=${data}`, `--cpu=${applied.cpuSeconds}`],
    applied,
  };
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    // The child leads its own group (detached): this also reaches anything it started.
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Runs one smoke request in a limited child process; never throws for what the model does. */
export function runInChild(
  request: SmokeRequest,
  limits: ChildLimits,
  tools: Tools = findTools(),
  hard: HardLimits = hardLimits(),
): Promise<ChildOutcome> {
  let command: ReturnType<typeof limitedCommand>;
  try {
    // From source, the child's own entry (src/smoke-child.ts) starts twice as fast as the whole CLI.
    const self = selfInvocation(import.meta.url, "smoke-child.ts");
    command = limitedCommand([self.command, ...self.args, SMOKE_CHILD_COMMAND], limits, tools, hard);
  } catch (error) {
    return Promise.resolve({
      kind: "spawn-failed",
      message: errorMessage(error),
      limiter: "none",
      stderr: "",
    });
  }
  const { limiter } = command;
  let applied = command.applied;
  const [file, ...args] = command.argv as [string, ...string[]];
  const child = spawn(file, args, {
    detached: true,
    stdio: ["pipe", "ignore", "pipe", "pipe"],
    // The parent made sure the runtime is there; the child must not spend its time limit installing it.
    env: { ...process.env, MODELSHIP_RUNTIME_AUTO_INSTALL: "0" },
  });
  trackChild(child);
  return new Promise((resolve) => {
    let stderr = "";
    let reply: SmokeReply | undefined;
    let replyBytes = 0;
    let ended:
      | "timeout"
      | "start-timeout"
      | "reply-too-large"
      | { limitFailed: string }
      | { prlimitFailed: string }
      | undefined;
    const stop = (why: typeof ended) => {
      ended ??= why;
      killGroup(child);
    };
    // The model's time starts at "go": a slow start on a busy machine is not the model's doing.
    let timer = setTimeout(() => stop("start-timeout"), START_TIMEOUT_MS);
    const go = () => {
      clearTimeout(timer);
      timer = setTimeout(() => stop("timeout"), limits.timeoutMs);
      child.stdin?.write("go\n");
    };
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES);
    });
    const replies = child.stdio[REPLY_FD] as NodeJS.ReadableStream;
    replies.on("data", (chunk: Buffer) => {
      replyBytes += chunk.length;
      if (replyBytes > MAX_REPLY_BYTES) stop("reply-too-large");
    });
    createInterface({ input: replies }).on("line", (line) => {
      let message: SmokeReply | Ready | LimitFailed;
      try {
        message = JSON.parse(line) as SmokeReply | Ready | LimitFailed;
      } catch {
        return stop("reply-too-large");
      }
      // Only the shell before node says this: the limit was not set, so the model must not be read.
      if (message.stage === "limit") return stop({ limitFailed: `${message.command} failed` });
      if (message.stage !== "ready") {
        reply = message;
        return;
      }
      if (limiter !== "prlimit") return go();
      if (child.pid === undefined) return stop({ prlimitFailed: "the child has no pid" });
      const set = pidLimits(child.pid, message, limits, hard);
      execFile(tools.prlimit as string, set.args, (error, _stdout, errors) => {
        if (!error) {
          applied = set.applied;
          return go();
        }
        const why = String(errors).trim().split("\n").at(-1) || errorMessage(error);
        stop({ prlimitFailed: `prlimit ${set.args.join(" ")}: ${why}` });
      });
    });
    child.stdin?.on("error", () => {}); // EPIPE when the child died before reading
    child.stdin?.write(`${JSON.stringify(request)}\n`);
    let spawnError: Error | undefined;
    child.once("error", (error) => {
      spawnError = error;
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      child.stdin?.destroy();
      killGroup(child);
      const base = { limiter, stderr, ...(applied ? { applied } : {}) };
      if (spawnError) return resolve({ ...base, kind: "spawn-failed", message: spawnError.message });
      if (typeof ended === "object" && "prlimitFailed" in ended) {
        // The child was stopped before the model was read: start again under the shell's ulimit.
        const fallback = ended.prlimitFailed;
        if (!tools.sh) return resolve({ limiter, stderr, kind: "limit-failed", message: fallback, fallback });
        return resolve(
          runInChild(request, limits, { ...tools, prlimit: undefined }, hard).then((outcome) => ({
            ...outcome,
            fallback,
          })),
        );
      }
      if (typeof ended === "object")
        return resolve({ limiter, stderr, kind: "limit-failed", message: ended.limitFailed });
      if (ended) return resolve({ ...base, kind: ended });
      if (code === 0 && reply) return resolve({ ...base, kind: "reply", reply });
      resolve({ ...base, kind: "died", code, signal });
    });
  });
}
