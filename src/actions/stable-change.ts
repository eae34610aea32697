import * as core from "@actions/core";
import type { StableChange } from "../rollout/manual.js";
import { markdownTable } from "../util/table.js";

export async function summarizeStableChange(action: string, change: StableChange): Promise<void> {
  core.setOutput("stable", change.stable);
  core.setOutput("previous", change.previous ?? "");
  await core.summary
    .addHeading(`modelship ${action}: ${change.stable} is stable`, 2)
    .addRaw(
      markdownTable(
        ["stable", "previous", "reason", "at"],
        [[change.stable, change.previous ?? "none", change.entry.reason ?? "", change.entry.at]],
      ),
      true,
    )
    .write();
}
