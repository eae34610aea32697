import { join } from "node:path";
import type { ModelshipConfig } from "../config/index.js";
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
