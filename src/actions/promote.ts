import * as core from "@actions/core";
import { promoteRevision } from "../rollout/manual.js";
import { stateDirFromInput } from "./common.js";
import { summarizeStableChange } from "./stable-change.js";

export async function promoteAction(): Promise<void> {
  const change = await promoteRevision(
    await stateDirFromInput(),
    core.getInput("revision", { required: true }),
    core.getInput("reason") || undefined,
  );
  await summarizeStableChange("promote", change);
}
