import { statusParser } from "../../settings/status.js";
import { describeDeploy } from "../../state/deploy-status.js";
import { findState } from "../../targets/open.js";
import { textTable } from "../../util/table.js";
import { settingsFromArgv } from "../args.js";
import { type Command, print, printJson } from "./common.js";

export const status: Command = {
  summary: "show the revisions, the stable one, whether a deploy is running, and the history of decisions",
  help: "usage: modelship status [--state-dir DIR | --config F] [--json]",
  async run(argv) {
    const settings = settingsFromArgv(statusParser, argv);
    const store = await findState(settings.state);
    const ledger = await store.read();
    // The lock says whether the canary in the ledger is moving or was left by a run that is gone.
    const lock = await store.lockState?.();
    const deploy = describeDeploy(ledger, lock);
    if (settings.json) {
      printJson({ ...ledger, ...(lock ? { deploy: { ...lock, summary: deploy } } : {}) });
      return 0;
    }
    print(
      `stable: ${ledger.stable ?? "none"}${ledger.canary ? `, canary: ${ledger.canary.revision} at ${ledger.canary.weight}%` : ""}`,
    );
    if (deploy) print(deploy);
    print(
      textTable(
        ["revision", "model", "digest", "created"],
        ledger.revisions.map((r) => [r.id, r.model.path, r.model.digest.slice(0, 19), r.createdAt]),
      ),
    );
    const decisions = ledger.history.filter((h) => h.action !== "weight");
    print(
      `\n${textTable(
        ["at", "action", "revision", "previous", "reason"],
        decisions.map((h) => [h.at, h.action, h.revision, h.previous ?? "", h.reason ?? ""]),
      )}`,
    );
    return 0;
  },
};
