import * as core from "@actions/core";
import { rollbackRevision } from "../rollout/manual.js";
import { rollbackParser } from "../settings/rollback.js";
import { fromInputs } from "../settings/sources.js";
import { findState } from "../targets/open.js";
import { summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const settings = fromInputs(rollbackParser, core.getInput);
  const change = await rollbackRevision(await findState(settings.state), settings.to, settings.reason);
  await summarizeStableChange("rollback", change);
}
