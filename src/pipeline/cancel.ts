// What a cancelled run's post step does: revert the canary its main step started, if it is still
// unfinished in the ledger and still that run's (same revision, same owner), through the ports.
// A canary of another run, or one the main step finished, is left alone.
import type { ModelshipConfig } from "../config/index.js";
import { type CanaryOwner, type Ledger, revertCanary } from "../state/ledger.js";
import { openState } from "../targets/open.js";
import type { Logger } from "../util/log.js";
import { withDeployTarget } from "./deploy-target.js";

export interface StartedCanary {
  revision: string;
  owner: CanaryOwner;
}

export interface CancelOutcome {
  reverted: boolean;
  reason: string;
}

/** Whether the ledger's canary is the one `started` names; the reason when it is not. */
export function ownCanary(ledger: Ledger, started: StartedCanary): string | undefined {
  const canary = ledger.canary;
  if (!canary) return "no canary is in progress: the main step finished its rollout";
  if (canary.revision !== started.revision)
    return `the canary in progress is ${canary.revision}, not this run's ${started.revision}: left alone`;
  const owner = canary.owner;
  if (!owner || owner.pid !== started.owner.pid || owner.host !== started.owner.host) {
    const who = owner ? `pid ${owner.pid} on ${owner.host}` : "no recorded owner";
    return `canary ${canary.revision} now belongs to ${who}, not to this run's main step: left alone`;
  }
  return undefined;
}

/** Reverts this run's unfinished canary, under the deploy lock, and records why. */
export async function revertUnfinishedCanary(
  config: ModelshipConfig,
  started: StartedCanary,
  reason: string,
  logger: Logger,
): Promise<CancelOutcome> {
  const notOurs = ownCanary(await openState(config).read(), started);
  if (notOurs) return { reverted: false, reason: notOurs };
  return withDeployTarget(config, logger, async (target) => {
    // Read again under the lock: a run that took over since must keep its canary.
    const again = ownCanary(await target.state.read(), started);
    if (again) return { reverted: false, reason: again };
    await target.workloads.revert();
    await target.state.update((l) =>
      ownCanary(l, started) ? l : revertCanary(l, new Date().toISOString(), reason),
    );
    return { reverted: true, reason };
  });
}
