import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { trackChild } from "../../util/child-cleanup.js";
import { selfInvocation } from "../../util/self.js";

export interface ModelProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface ModelProcessOptions {
  modelPath: string;
  name: string;
  readyTimeoutMs?: number;
}

/**
 * Runs `modelship serve` for one revision in its own process and resolves once the server reports
 * the URL it listens on. The child exits by itself when this process goes away (its stdin closes).
 */
export async function startModelProcess(options: ModelProcessOptions): Promise<ModelProcess> {
  const self = selfInvocation();
  const args = [
    ...self.args,
    "serve",
    options.modelPath,
    "--port",
    "0",
    "--name",
    options.name,
    "--json",
    "--exit-with-stdin",
  ];
  const child = spawn(self.command, args, { stdio: ["pipe", "pipe", "pipe"] });
  trackChild(child);
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  const url = await waitForUrl(child, options.readyTimeoutMs ?? 30_000, () => stderr.join("").trim());
  return { url, pid: child.pid as number, stop: () => stopChild(child) };
}

function waitForUrl(child: ChildProcess, timeoutMs: number, stderrTail: () => string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      child.kill("SIGKILL");
      const tail = stderrTail();
      reject(new Error(`model server did not start: ${why}${tail ? `\n${tail}` : ""}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const onExit = (code: number | null, signal: string | null) =>
      fail(`exited with ${signal ?? `code ${code}`}`);
    const onError = (error: Error) => fail(error.message);
    const cleanup = () => {
      clearTimeout(timer);
      lines.close();
      child.off("exit", onExit);
      child.off("error", onError);
    };
    child.once("exit", onExit);
    child.once("error", onError);
    lines.on("line", (line) => {
      try {
        const report = JSON.parse(line) as { url?: unknown };
        if (typeof report.url !== "string") return;
        cleanup();
        resolve(report.url);
      } catch {
        // Not the ready report: the server logs to stderr, so ignore anything else.
      }
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
