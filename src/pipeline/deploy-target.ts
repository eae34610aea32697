import type { ModelshipConfig } from "../config/index.js";
import { openState, openTarget } from "../targets/open.js";
import type { Target } from "../targets/ports.js";
import type { Logger } from "../util/log.js";

/**
 * Runs `use` under the deploy lock with an open target: `target` when given (its owner closes it),
 * else the config's own, opened after the lock is taken and closed before it is released.
 */
export async function withDeployTarget<T>(
  config: ModelshipConfig,
  logger: Logger,
  use: (target: Target) => Promise<T>,
  target?: Target,
): Promise<T> {
  // The lock is taken on the store the target then uses: a lock lost in a cluster (a Lease not
  // renewed in time) fails that store's next call, so the run cannot write on without it.
  const state = target?.state ?? openState(config);
  const unlock = await state.lock();
  try {
    const opened = target ?? (await openTarget(config, logger, state));
    try {
      return await use(opened);
    } finally {
      if (!target) await opened.close();
    }
  } finally {
    await unlock();
  }
}
