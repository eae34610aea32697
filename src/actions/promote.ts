import * as core from "@actions/core";
import { promoteRevision } from "../rollout/manual.js";
import { promoteParser } from "../settings/promote.js";
import { fromInputs } from "../settings/sources.js";
import { findStableControl } from "../targets/open.js";
import { actionLogger } from "./common.js";
import { withKubeconfig } from "./kubeconfig.js";
import { summarizeStableChange } from "./stable-change.js";

export async function promoteAction(): Promise<void> {
  const settings = fromInputs(promoteParser, core.getInput, core.setSecret);
  const change = await withKubeconfig(settings.kubeconfig, async () =>
    promoteRevision(
      await findStableControl(settings.state, actionLogger),
      settings.revision,
      settings.reason,
    ),
  );
  await summarizeStableChange("promote", change);
}
