import { join } from "node:path";
import type { ModelshipConfig } from "../config/index.js";
import { acquireDeployLock } from "../rollout/ledger-store.js";
import { LocalTarget } from "../targets/local/local-target.js";
import type { Target } from "../targets/target.js";
import type { Logger } from "../util/log.js";

export async function openTarget(config: ModelshipConfig, logger: Logger): Promise<Target> {
  if (config.target.kind !== "local") {
    throw new Error(
      `target kind "${config.target.kind}" is not available yet in this version; use target.kind: local`,
    );
  }
  return LocalTarget.open({ stateDir: config.target.stateDir, logger });
}

/** Where the ledger and the deploy lock live for this config. */
export function stateDirOf(config: ModelshipConfig): string {
  return config.target.kind === "local" ? config.target.stateDir : join(config.dir, ".modelship");
}

/**
 * Runs `use` under the deploy lock with an open target: `target` when given (its owner closes it),
 * else the config's own, closed before the lock is released since closing may still write the
 * ledger (a canary left running is reverted).
 */
export async function withDeployTarget<T>(
  config: ModelshipConfig,
  logger: Logger,
  use: (target: Target) => Promise<T>,
  target?: Target,
): Promise<T> {
  const unlock = await acquireDeployLock(stateDirOf(config));
  try {
    const opened = target ?? (await openTarget(config, logger));
    try {
      return await use(opened);
    } finally {
      if (!target) await opened.close();
    }
  } finally {
    await unlock();
  }
}
