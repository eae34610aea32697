import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../..", import.meta.url));
export const IRIS = join(REPO, "examples", "iris");
export const model = (version: "v1" | "v2" | "v3") => join(IRIS, "models", version);
const TSX_LOADER = join(REPO, "node_modules", "tsx", "dist", "loader.mjs");
const BIN = join(REPO, "src", "bin.ts");

export function tempDir(prefix = "modelship-it-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Starts the CLI from source as a real process (no shell in between: the pid is the CLI's). */
export function spawnCli(
  args: string[],
  options: { cwd?: string; stdin?: "ignore" | "pipe"; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  return spawn(process.execPath, ["--import", TSX_LOADER, BIN, ...args], {
    cwd: options.cwd ?? REPO,
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
    env: { ...process.env, MODELSHIP_DEBUG: "", NO_COLOR: "1", ...options.env },
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output until it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export function runCli(args: string[]): Promise<CliResult> {
  return collect(spawnCli(args));
}

export { isAlive } from "../../src/state/pid-lock.js";

/** The pid of a process that has already exited: a lock or a partial copy whose owner is gone. */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid as number;
  await new Promise((resolve) => child.on("exit", resolve));
  return pid;
}

/** Polls `check` until it returns true; throws with `what` when it does not within `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Live (non-zombie) child processes of `pid`, from `ps`. */
export function childPids(pid: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const ps = execFile("ps", ["-o", "pid=,stat=", "--ppid", String(pid)], (error, stdout) => {
      // ps exits 1 when no process matches.
      if (error && (error as { code?: unknown }).code !== 1) return reject(error);
      resolve(
        stdout
          .split("\n")
          .map((line) => line.trim().split(/\s+/))
          .filter(([p, stat]) => p && !stat?.startsWith("Z"))
          .map(([p]) => Number(p))
          // When asked about this process, ps sees itself among the children.
          .filter((p) => p !== ps.pid),
      );
    });
  });
}

/** A small HTTP server on 127.0.0.1:0 that answers every request with `name` (after `delayMs`). */
export async function namedBackend(name: string, delayMs = 0): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      setTimeout(() => res.writeHead(200, { "content-type": "text/plain" }).end(name), delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await closeServer(server);
  return port;
}

/** One Iris request body from the eval set shape. */
export const irisRequest = (data = [5.1, 3.5, 1.4, 0.2]) => ({
  inputs: [{ name: "input", shape: [1, 4], datatype: "FP32", data }],
});

export async function infer(baseUrl: string, name = "iris") {
  const res = await fetch(`${baseUrl}/v2/models/${name}/infer`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(irisRequest()),
  });
  return { status: res.status, revision: res.headers.get("x-modelship-revision"), body: await res.json() };
}
