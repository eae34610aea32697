import * as core from "@actions/core";
import { rollbackRevision } from "../rollout/manual.js";
import { rollbackParser } from "../settings/rollback.js";
import { fromInputs } from "../settings/sources.js";
import { findStableControl } from "../targets/open.js";
import { actionLogger } from "./common.js";
import { withKubeconfig } from "./kubeconfig.js";
import { summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const settings = fromInputs(rollbackParser, core.getInput, core.setSecret);
  const change = await withKubeconfig(settings.kubeconfig, async () =>
    rollbackRevision(await findStableControl(settings.state, actionLogger), settings.to, settings.reason),
  );
  await summarizeStableChange("rollback", change);
}
