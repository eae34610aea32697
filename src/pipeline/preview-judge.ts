// How a preview judges a candidate: on a scratch local target (its own state directory; production's
// ledger is only read), production's model as the stable, the candidate deployed beside it by the
// same deploy code and gates a real deploy uses. Where the two servers run is the target's business:
// processes on this runner, or pods in the cluster reached through port-forwards (cluster-preview.ts).
import type { ModelshipConfig } from "../config/index.js";
import { deployStable, type ModelIdentity } from "../state/ledger.js";
import type { Target } from "../targets/ports.js";
import type { Logger } from "../util/log.js";
import { type DeployReport, deployRevision, registerRevision } from "./deploy.js";

/**
 * The config a preview judges with: the local target on `stateDir`, and the production gates
 * except `gates.prometheus` (its queries speak of the cluster's traffic, which a preview does not get).
 */
export function scratchConfig(config: ModelshipConfig, stateDir: string, notes: string[]): ModelshipConfig {
  const { prometheus, ...gates } = config.gates;
  if (prometheus)
    notes.push(
      "gates.prometheus was left out: its queries speak of the cluster's traffic, which a preview does not get",
    );
  return { ...config, gates, target: { kind: "local", stateDir } };
}

/**
 * Runs production's model as the stable of the scratch target (none: a first deployment), then
 * deploys the candidate beside it through the configured steps and gates.
 */
export async function judgeBesideProduction(
  scratch: ModelshipConfig,
  target: Target,
  production: { path: string; digest: string } | undefined,
  candidate: ModelIdentity,
  logger: Logger,
): Promise<DeployReport> {
  if (production) {
    const stable = await registerRevision(target.state, {
      name: candidate.name,
      path: production.path,
      digest: production.digest,
    });
    await target.state.update((l) =>
      deployStable(l, stable.id, new Date().toISOString(), "production's model, for the preview"),
    );
    await target.workloads.runStable(stable);
  }
  const revision = await registerRevision(target.state, candidate);
  return deployRevision(scratch, target, revision, logger);
}
