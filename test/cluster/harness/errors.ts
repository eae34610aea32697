// Small things every harness module shares: the one error type the CLI prints as is, the log
// callback, and process checks by pid.
import { readFileSync } from "node:fs";

/** A failure whose message says what failed, where the log is and what to run to retry. */
export class ClusterError extends Error {
  override name = "ClusterError";
}

/** Progress lines, to stderr in the CLI. */
export type Log = (line: string) => void;

/** True while the process exists and is not a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Field 3 of /proc/PID/stat is the state; after the parenthesised command name.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** The process's command line, or undefined when it is gone. */
export function commandLine(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return undefined;
  }
}

export function lastLines(text: string, count: number): string {
  return text
    .trimEnd()
    .split("\n")
    .slice(-count)
    .map((line) => `  | ${line}`)
    .join("\n");
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
