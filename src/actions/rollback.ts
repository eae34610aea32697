import * as core from "@actions/core";
import { rollbackRevision } from "../rollout/manual.js";
import { stateFromInput } from "./common.js";
import { summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const change = await rollbackRevision(
    await stateFromInput(),
    core.getInput("to") || undefined,
    core.getInput("reason") || undefined,
  );
  await summarizeStableChange("rollback", change);
}
