import { resolve } from "node:path";
import * as core from "@actions/core";
import { rollbackRevision } from "../rollout/manual.js";
import { summarizeStableChange } from "./stable-change.js";

export async function rollbackAction(): Promise<void> {
  const change = await rollbackRevision(
    resolve(core.getInput("state-dir") || ".modelship"),
    core.getInput("to") || undefined,
    core.getInput("reason") || undefined,
  );
  await summarizeStableChange("rollback", change);
}
