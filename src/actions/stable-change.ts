import * as core from "@actions/core";
import type { RunContext } from "../github/context.js";
import type { StableChange } from "../rollout/manual.js";
import type { HistoryEntry, Ledger } from "../state/ledger.js";
import { markdownTable } from "../util/table.js";

const HISTORY_ROWS = 20;

/** The ledger's last decisions, newest first. */
export function historyTable(history: readonly HistoryEntry[]): string {
  const rows = history
    .slice(-HISTORY_ROWS)
    .reverse()
    .map((h) => [
      h.at,
      h.action,
      h.revision,
      h.previous ?? "",
      h.weight === undefined ? "" : `${h.weight}%`,
      h.reason ?? "",
    ]);
  return markdownTable(["at", "action", "revision", "previous", "weight", "reason"], rows);
}

/** "why — by @actor (run URL)", as the ledger records a change made from a workflow. */
export function reasonWithActor(
  reason: string | undefined,
  context: Pick<RunContext, "actor" | "runUrl">,
): string {
  const base = reason ?? "manual rollback";
  const who = [context.actor ? `@${context.actor}` : "", context.runUrl ?? ""].filter(Boolean).join(", ");
  return who ? `${base} (by ${who})` : base;
}

/**
 * Why a rollback cannot happen, said plainly before the ledger is touched; undefined when it can.
 * A fresh runner's local target has an empty ledger: the deploys it would roll back ran elsewhere.
 */
export function nothingToRollBack(ledger: Ledger, location: string, local: boolean): string | undefined {
  if (ledger.revisions.length === 0) {
    return local
      ? `nothing to roll back: the ledger at ${location} is empty. The local target keeps its ledger in the state directory of the machine that deployed, and a fresh GitHub-hosted runner starts without it, so this job has no history to roll back. Roll back where the deploys ran (a self-hosted runner with a persistent target.stateDir), or deploy with target.kind kubernetes, whose ledger lives in the cluster`
      : `nothing to roll back: the ledger ${location} has no revisions (nothing was deployed with this config's target, name and namespace)`;
  }
  if (!ledger.stable) return `nothing to roll back: no revision of ${location} is stable yet`;
  return undefined;
}

export async function summarizeStableChange(
  action: string,
  change: StableChange,
  ledger?: Ledger,
): Promise<void> {
  core.setOutput("stable", change.stable);
  core.setOutput("previous", change.previous ?? "");
  const summary = core.summary
    .addHeading(`modelship ${action}: ${change.stable} is stable`, 2)
    .addRaw(
      markdownTable(
        ["stable", "previous", "reason", "at"],
        [[change.stable, change.previous ?? "none", change.entry.reason ?? "", change.entry.at]],
      ),
      true,
    );
  if (ledger)
    summary.addRaw("\n\n### History (newest first)\n\n", true).addRaw(historyTable(ledger.history), true);
  await summary.write();
}
