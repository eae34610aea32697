// `--command "…"`: the server under test, started for the benchmark and stopped after it. The text is
// split into argv here, like a shell would split words, but nothing is expanded and no shell runs:
// no $VAR, globs, pipes or `;` — a command that needs them belongs in a script file.
import { type ChildProcess, spawn } from "node:child_process";
import net from "node:net";
import { onInterrupt, trackChild } from "../util/child-cleanup.js";

/** Splits a command line into words: spaces separate, '…' is literal, "…" allows \" and \\, \ escapes one char. */
export function splitArgv(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && (text[i + 1] === '"' || text[i + 1] === "\\")) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= text.length) throw new Error("command: ends with a lone backslash");
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      if (/[|&;<>()`$]/.test(c)) {
        // Unquoted shell syntax would silently mean something else here (a literal argument).
        throw new Error(
          `command: "${c}" is shell syntax, and the command runs without a shell; put pipes, redirections and variables in a script and run that`,
        );
      }
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`command: unclosed ${quote} quote`);
  if (inWord) words.push(word);
  if (words.length === 0) throw new Error("command: empty; expected a program and its arguments");
  if (text.includes("\0")) throw new Error("command: contains a NUL byte");
  return words;
}

export interface ServerProcess {
  pid: number;
  /** Stops the whole process group: SIGTERM, then SIGKILL after the grace period. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  argv: string[];
  /** Host and port to wait for (a TCP connection succeeds), and optionally a URL that must answer 2xx. */
  host: string;
  port: number;
  readyUrl?: string;
  readyTimeoutMs: number;
  graceMs?: number;
  onOutput?: (line: string) => void;
}

const POLL_MS = 100;

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

async function stopGroup(child: ChildProcess, graceMs: number): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  killGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (groupAlive(pid)) killGroup(pid, "SIGKILL");
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      setTimeout(resolve, 1000).unref();
    });
  }
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** Starts the server in its own process group and resolves once it is ready to take requests. */
export async function startServer(options: StartOptions): Promise<ServerProcess> {
  const [program, ...args] = options.argv;
  if (program === undefined) throw new Error("command: empty; expected a program and its arguments");
  const child = spawn(program, args, { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  trackChild(child);
  const graceMs = options.graceMs ?? 5000;
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= stopGroup(child, graceMs).finally(() => removeHook());
    return stopped;
  };
  // Ctrl-C or a cancelled job must not leave the server's children behind.
  const removeHook = onInterrupt(async () => {
    await stop();
  });
  const tail: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream?.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split(/\r?\n/)) {
        if (line === "") continue;
        tail.push(line);
        if (tail.length > 20) tail.shift();
        options.onOutput?.(line);
      }
    });
  }
  let exited: string | undefined;
  child.once("exit", (code, signal) => {
    exited = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.once("error", (err) => {
    exited = `could not start: ${err.message}`;
  });
  const deadline = Date.now() + options.readyTimeoutMs;
  try {
    for (;;) {
      if (exited) throw new Error(`command ${JSON.stringify(program)} ${exited} before it was ready`);
      const ready =
        (await canConnect(options.host, options.port)) &&
        (options.readyUrl === undefined || (await answers(options.readyUrl)));
      if (ready && !exited) break;
      if (Date.now() >= deadline) {
        throw new Error(
          `command ${JSON.stringify(program)}: not ready after ${options.readyTimeoutMs} ms (waiting for ${options.readyUrl ?? `${options.host}:${options.port}`})`,
        );
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } catch (err) {
    await stop();
    const output = tail.length > 0 ? `\nlast output:\n${tail.join("\n")}` : "";
    throw new Error(`${(err as Error).message}${output}`);
  }
  return { pid: child.pid as number, stop };
}

/** Runs `body` with the server up, and stops the server (and its process group) whatever happens. */
export async function withServer<T>(options: StartOptions, body: () => Promise<T>): Promise<T> {
  const server = await startServer(options);
  try {
    return await body();
  } finally {
    await server.stop();
  }
}
