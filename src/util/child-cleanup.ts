import type { ChildProcess } from "node:child_process";

// Children still running when this process ends: killed on normal exit, on an uncaught error and
// on Ctrl-C / SIGTERM, so a run never leaves model servers behind.
const live = new Set<ChildProcess>();
let installed = false;

function killAll(): void {
  for (const child of live) child.kill("SIGTERM");
  live.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(signal === "SIGINT" ? 130 : 143);
    });
  }
}

export function trackChild(child: ChildProcess): void {
  install();
  live.add(child);
  child.once("exit", () => live.delete(child));
}
