// The stable model a new one must stay compatible with: the stable revision in the target's ledger.
import { LedgerFile } from "../rollout/ledger-store.js";

/** The stable revision's model path, or undefined when nothing is stable yet or the ledger is unreadable. */
export async function stableModelPath(stateDir: string): Promise<string | undefined> {
  try {
    const ledger = await new LedgerFile(stateDir).read();
    return ledger.revisions.find((r) => r.id === ledger.stable)?.model.path;
  } catch {
    // A damaged ledger is reported by the deploy stage with its fix; validation just skips the comparison.
    return undefined;
  }
}
