// The cluster's processes: started detached (so they outlive `up` and a Ctrl-C in its terminal
// reaches only the harness, which then stops them in order), each logging to DIR/logs/NAME.log,
// each recorded in DIR/pids the moment it starts, so a harness that is killed leaves a list the
// next `up` or `down` can act on. A recorded pid is only signalled while its command line still
// names DIR: a pid reused by some other process since is left alone.
import { type ChildProcess, spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { join } from "node:path";
import { commandLine, isAlive, sleep } from "./errors.js";

export interface Started {
  name: string;
  pid: number;
  child: ChildProcess;
  log: string;
  /** Set once the process has exited: its code or signal. */
  exit?: string;
}

export function pidsFile(dir: string): string {
  return join(dir, "pids");
}

/** The processes DIR/pids lists: `PID NAME` a line. */
export function readPids(dir: string): { pid: number; name: string }[] {
  let text: string;
  try {
    text = readFileSync(pidsFile(dir), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, name]) => pid && name && /^\d+$/.test(pid))
    .map(([pid, name]) => ({ pid: Number(pid), name: name as string }));
}

export async function startProcess(
  dir: string,
  name: string,
  binary: string,
  args: string[],
): Promise<Started> {
  const log = join(dir, "logs", `${name}.log`);
  const out = openSync(log, "a");
  const child = spawn(binary, args, { detached: true, stdio: ["ignore", out, out], cwd: dir });
  if (child.pid === undefined) {
    await new Promise((resolve) => child.once("error", resolve));
    throw new Error(`could not start ${binary}`);
  }
  const started: Started = { name, pid: child.pid, child, log };
  child.once("exit", (code, signal) => {
    started.exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.unref();
  await appendFile(pidsFile(dir), `${child.pid} ${name}\n`);
  return started;
}

/** Whether this pid is still one of DIR's processes (and not a pid since reused elsewhere). */
export function ownedBy(pid: number, dir: string): boolean {
  return isAlive(pid) && (commandLine(pid) ?? []).some((arg) => arg.includes(dir));
}

/**
 * Stops DIR's processes one by one, last started first (kwok and the controllers before the API
 * server, the API server before etcd, which it would otherwise wait for as it drains): SIGTERM,
 * then SIGKILL after graceMs. Resolves to the names of those that needed SIGKILL.
 */
export async function stopAll(
  dir: string,
  pids: { pid: number; name: string }[],
  graceMs = 10_000,
): Promise<string[]> {
  const killed: string[] = [];
  for (const { pid, name } of [...pids].reverse()) {
    if (!ownedBy(pid, dir)) continue;
    signal(pid, "SIGTERM");
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(20);
    if (!isAlive(pid)) continue;
    signal(pid, "SIGKILL");
    killed.push(name);
    while (isAlive(pid)) await sleep(20);
  }
  return killed;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}
