// Processes a test run started, found by an environment marker they inherit: every child of a
// test worker carries the worker's markers (spawn passes process.env on), even after its parent
// is gone and it has been re-parented, which is exactly when a pid list would lose it.
import { readdirSync, readFileSync } from "node:fs";

/** The marker every process of one test run carries (process-guard.ts sets it, process-check.ts looks). */
export const RUN_MARK = "MODELSHIP_TEST_RUN";
/** A process a test has just signalled gets this long to exit before it counts as left behind. */
export const GRACE_MS = 5_000;

export interface MarkedProcess {
  pid: number;
  command: string;
}

/** Live processes whose initial environment holds `name=value`. */
export function findMarked(name: string, value: string): MarkedProcess[] {
  const needle = `${name}=${value}`;
  const found: MarkedProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      // A zombie's environ reads empty: it is gone already, only not yet reaped.
      const environ = readFileSync(`/proc/${pid}/environ`, "latin1");
      if (!environ.split("\0").includes(needle)) continue;
      const command = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
      found.push({ pid, command: command.slice(0, 200) });
    } catch {
      // Exited while we looked, or not ours to read.
    }
  }
  return found;
}

/**
 * Gives marked processes `graceMs` to finish exiting (a test may have just sent SIGTERM), then
 * kills what is left with SIGKILL and returns those.
 */
export async function stopMarked(name: string, value: string, graceMs: number): Promise<MarkedProcess[]> {
  const deadline = Date.now() + graceMs;
  let left = findMarked(name, value);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = findMarked(name, value);
  }
  for (const { pid } of left) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone in between.
    }
  }
  // SIGKILL is delivered asynchronously: return once the killed are gone (or zombies).
  const killedBy = Date.now() + 2_000;
  while (findMarked(name, value).length > 0 && Date.now() < killedBy) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return left;
}

export function describeLeft(left: MarkedProcess[], where: string): string {
  const list = left.map(({ pid, command }) => `  ${pid}: ${command}`).join("\n");
  return `${where} left ${left.length} process(es) running (now killed):\n${list}`;
}
