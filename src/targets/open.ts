import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { loadBodies } from "../bench/run.js";
import { DEFAULTS, loadConfig, type ModelshipConfig } from "../config/index.js";
import type { RevisionRecord } from "../state/ledger.js";
import { LedgerFile } from "../state/ledger-file.js";
import type { LedgerStore } from "../state/store.js";
import { type Logger, silentLogger } from "../util/log.js";
import { openKubernetesState, openKubernetesTarget } from "./kubernetes/kubernetes-target.js";
import { LocalTarget, type LocalTrafficPlan } from "./local/local-target.js";
import type { Target } from "./ports.js";

/** The config's target with every port: workloads, metrics, state, endpoints, traffic. */
export async function openTarget(
  config: ModelshipConfig,
  logger: Logger,
  state?: LedgerStore,
): Promise<Target> {
  if (config.target.kind === "kubernetes") {
    const preset = config.image.runtime?.preset;
    return openKubernetesTarget(config.target, logger, {
      ...(preset ? { preset } : {}),
      ...(state ? { store: state } : {}),
    });
  }
  return LocalTarget.open({ stateDir: config.target.stateDir, logger, traffic: localTraffic(config) });
}

/** The state port alone, for commands that only read or change the ledger. */
export function openState(config: ModelshipConfig): LedgerStore {
  if (config.target.kind === "kubernetes") return openKubernetesState(config.target);
  return new LedgerFile(config.target.stateDir);
}

/**
 * What a hand-made stable change (promote, rollback) needs: the ledger, and where the target keeps
 * its workloads running without modelship (a cluster), a way to run the new stable revision there.
 * The local target runs the ledger's stable from its next start, so it has none.
 */
export interface StableControl {
  state: LedgerStore;
  runStable?: (revision: RevisionRecord) => Promise<void>;
}

export async function findStableControl(
  locator: StateLocator,
  logger: Logger = silentLogger,
): Promise<StableControl> {
  const config = await locatedConfig(locator);
  if (config?.target.kind === "kubernetes") {
    const target = await openKubernetesTarget(config.target, logger);
    return { state: target.state, runStable: (revision) => target.workloads.runStable(revision) };
  }
  return { state: stateOf(locator, config) };
}

type StateLocator = { config?: string; stateDir?: string };

/**
 * The ledger for status, promote and rollback, which may run without a config: the state
 * directory given; else the state of the config given, or of ./modelship.yml when it exists; else
 * the default local state directory.
 */
export async function findState(locator: StateLocator): Promise<LedgerStore> {
  return stateOf(locator, await locatedConfig(locator));
}

/** The config a state locator names: none with a state directory, or without a file to read. */
async function locatedConfig(locator: StateLocator): Promise<ModelshipConfig | undefined> {
  if (locator.stateDir) return undefined;
  const path = resolve(locator.config ?? "modelship.yml");
  if (!locator.config && !existsSync(path)) return undefined;
  return loadConfig(path);
}

function stateOf(locator: StateLocator, config: ModelshipConfig | undefined): LedgerStore {
  if (locator.stateDir) return new LedgerFile(resolve(locator.stateDir));
  return config ? openState(config) : new LedgerFile(resolve(DEFAULTS.stateDir));
}

/** The local target's own load: the benchmark input, else the eval set, at strategy.trafficRate. */
export function localTraffic(config: ModelshipConfig): LocalTrafficPlan {
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
