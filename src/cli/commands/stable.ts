import { promoteRevision, rollbackRevision, type StableChange } from "../../rollout/manual.js";
import { type Options, parse, UsageError } from "../args.js";
import { type Command, print, printJson, stateFlag } from "./common.js";

const stableChangeFlags = {
  reason: { type: "string" },
  config: { type: "string" },
  "state-dir": { type: "string" },
  json: { type: "boolean" },
} satisfies Options;

function printStableChange(change: StableChange, json: boolean | undefined): number {
  if (json) printJson(change);
  else
    print(
      `${change.stable} is now stable (was ${change.previous ?? "none"}); the target runs it from its next start`,
    );
  return 0;
}

export const promote: Command = {
  summary: "make a recorded revision stable by hand, without gates",
  help: "usage: modelship promote --revision rN [--reason TEXT] [--state-dir DIR | --config F] [--json]",
  async run(argv) {
    const { values } = parse(argv, { ...stableChangeFlags, revision: { type: "string" } });
    if (!values.revision) throw new UsageError("--revision is required (see `modelship status`)");
    return printStableChange(
      await promoteRevision(await stateFlag(values), values.revision, values.reason),
      values.json,
    );
  },
};

export const rollbackCommand: Command = {
  summary: "make the previous stable revision (or --to rN) stable again",
  help: "usage: modelship rollback [--to rN] [--reason TEXT] [--state-dir DIR | --config F] [--json]",
  async run(argv) {
    const { values } = parse(argv, { ...stableChangeFlags, to: { type: "string" } });
    return printStableChange(
      await rollbackRevision(await stateFlag(values), values.to, values.reason),
      values.json,
    );
  },
};
