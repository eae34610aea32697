import * as core from "@actions/core";
import { rollbackRevision } from "../rollout/manual.js";
import { stateDirFromInput } from "./common.js";
import { summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const change = await rollbackRevision(
    await stateDirFromInput(),
    core.getInput("to") || undefined,
    core.getInput("reason") || undefined,
  );
  await summarizeStableChange("rollback", change);
}
