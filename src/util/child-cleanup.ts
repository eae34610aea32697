import type { ChildProcess } from "node:child_process";

// Children still running when this process ends are killed: on normal exit, on an uncaught error
// and on Ctrl-C / SIGTERM, so a run never leaves model servers behind. On a signal, interrupt hooks
// (a revert recorded in the ledger, then the lock released) get a few seconds to run first.
const live = new Set<ChildProcess>();
const interruptHooks = new Set<(signal: string) => Promise<void>>();
const HOOK_TIMEOUT_MS = 5_000;
let installed = false;

function killAll(): void {
  for (const child of live) child.kill("SIGTERM");
  live.clear();
}

async function interrupted(signal: NodeJS.Signals): Promise<void> {
  // Last registered runs first, like nested finally blocks: the target records its revert in the
  // ledger before the deploy lock that guards the ledger is released.
  const runHooks = async () => {
    for (const hook of [...interruptHooks].reverse()) await hook(signal).catch(() => {});
  };
  const timeout = new Promise<void>((done) => setTimeout(done, HOOK_TIMEOUT_MS).unref());
  await Promise.race([runHooks(), timeout]);
  killAll();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", killAll);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => void interrupted(signal));
  }
}

export function trackChild(child: ChildProcess): void {
  install();
  live.add(child);
  child.once("exit", () => live.delete(child));
}

/** Runs `hook` if this process is interrupted by a signal; the returned function removes it. */
export function onInterrupt(hook: (signal: string) => Promise<void>): () => void {
  install();
  interruptHooks.add(hook);
  return () => interruptHooks.delete(hook);
}
