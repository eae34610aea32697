import * as core from "@actions/core";
import { promoteRevision } from "../rollout/manual.js";
import { stateFromInput } from "./common.js";
import { summarizeStableChange } from "./stable-change.js";

export async function promoteAction(): Promise<void> {
  const change = await promoteRevision(
    await stateFromInput(),
    core.getInput("revision", { required: true }),
    core.getInput("reason") || undefined,
  );
  await summarizeStableChange("promote", change);
}
