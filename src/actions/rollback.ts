import * as core from "@actions/core";
import { readRunContext } from "../github/context.js";
import { rollbackRevision } from "../rollout/manual.js";
import { withGitHub } from "../settings/github.js";
import { rollbackParser } from "../settings/rollback.js";
import { fromInputs } from "../settings/sources.js";
import { findStableControl } from "../targets/open.js";
import { actionLogger } from "./common.js";
import { deploymentsApi, ledgerRevision, productionDeployment } from "./github.js";
import { withKubeconfig } from "./kubeconfig.js";
import { nothingToRollBack, reasonWithActor, summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const { settings, github } = fromInputs(withGitHub(rollbackParser), core.getInput, core.setSecret);
  const context = readRunContext();
  const reason = reasonWithActor(settings.reason, context);
  const deployment = productionDeployment(deploymentsApi(github, context), context, actionLogger);
  const { change, ledger } = await withKubeconfig(settings.kubeconfig, async () => {
    const control = await findStableControl(settings.state, actionLogger);
    const why = nothingToRollBack(await control.state.read(), control.state.location, !control.runStable);
    if (why) throw new Error(why);
    const change = await rollbackRevision(control, settings.to, reason);
    await deployment.finish(
      "success",
      `rolled back to ${change.stable}: ${reason}`,
      () => ledgerRevision(control.state, change.stable),
      github.environmentUrl,
    );
    return { change, ledger: await control.state.read() };
  });
  await summarizeStableChange("rollback", change, ledger);
}
