import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadBodies } from "../bench/run.js";
import { DEFAULTS, loadConfig, type ModelshipConfig } from "../config/index.js";
import { LedgerFile } from "../state/ledger-file.js";
import type { LedgerStore } from "../state/store.js";
import type { Logger } from "../util/log.js";
import { LocalTarget, type LocalTrafficPlan } from "./local/local-target.js";
import type { Target } from "./ports.js";

function unavailable(kind: string): Error {
  return new Error(`target kind "${kind}" is not available yet in this version; use target.kind: local`);
}

/** The config's target with every port: workloads, metrics, state, canary endpoint, traffic. */
export async function openTarget(config: ModelshipConfig, logger: Logger): Promise<Target> {
  if (config.target.kind !== "local") throw unavailable(config.target.kind);
  return LocalTarget.open({ stateDir: config.target.stateDir, logger, traffic: localTraffic(config) });
}

/** The state port alone, for commands that only read or change the ledger. */
export function openState(config: ModelshipConfig): LedgerStore {
  if (config.target.kind !== "local") throw unavailable(config.target.kind);
  return new LedgerFile(config.target.stateDir);
}

/**
 * The ledger for status, promote and rollback, which may run without a config: the state
 * directory given; else the state of the config given, or of ./modelship.yml when it exists; else
 * the default local state directory.
 */
export async function findState(locator: { config?: string; stateDir?: string }): Promise<LedgerStore> {
  if (locator.stateDir) return new LedgerFile(resolve(locator.stateDir));
  const path = resolve(locator.config ?? "modelship.yml");
  if (!locator.config && !existsSync(path)) return new LedgerFile(resolve(DEFAULTS.stateDir));
  return openState(await loadConfig(path));
}

/** The local target's own load: the benchmark input, else the eval set, at strategy.trafficRate. */
function localTraffic(config: ModelshipConfig): LocalTrafficPlan {
  const source = config.benchmark.input ?? config.gates.accuracy?.evalSet;
  const load = async () => {
    const bodies = source ? await loadBodies(source) : [];
    if (bodies.length === 0) {
      throw new Error(
        "the local target needs request bodies to generate traffic: set benchmark.input or gates.accuracy.evalSet",
      );
    }
    return bodies;
  };
  let bodies: Promise<unknown[]> | undefined;
  return {
    modelName: config.model.name,
    rps: config.strategy.trafficRate,
    bodies: () => (bodies ??= load()),
  };
}
