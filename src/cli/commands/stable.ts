import { promoteRevision, rollbackRevision, type StableChange } from "../../rollout/manual.js";
import { promoteParser } from "../../settings/promote.js";
import { rollbackParser } from "../../settings/rollback.js";
import { findStableControl } from "../../targets/open.js";
import { settingsFromArgv } from "../args.js";
import { type Command, log, print, printJson } from "./common.js";

function printStableChange(change: StableChange, json: boolean): number {
  if (json) printJson(change);
  else
    print(
      `${change.stable} is now stable (was ${change.previous ?? "none"}); the target runs it (a local target from its next start)`,
    );
  return 0;
}

export const promote: Command = {
  summary: "make a recorded revision stable by hand, without gates",
  help: "usage: modelship promote --revision rN [--reason TEXT] [--state-dir DIR | --config F] [--json]",
  async run(argv) {
    const settings = settingsFromArgv(promoteParser, argv);
    const change = await promoteRevision(
      await findStableControl(settings.state, log),
      settings.revision,
      settings.reason,
    );
    return printStableChange(change, settings.json);
  },
};

export const rollbackCommand: Command = {
  summary: "make the previous stable revision (or --to rN) stable again",
  help: "usage: modelship rollback [--to rN] [--reason TEXT] [--state-dir DIR | --config F] [--json]",
  async run(argv) {
    const settings = settingsFromArgv(rollbackParser, argv);
    const change = await rollbackRevision(
      await findStableControl(settings.state, log),
      settings.to,
      settings.reason,
    );
    return printStableChange(change, settings.json);
  },
};
