import { resolve } from "node:path";
import { describe } from "vitest";
import { type PromoteSettings, promoteParser } from "../../src/settings/promote.js";
import { settingsTable } from "./settings-table.js";

describe("promote settings", () => {
  settingsTable<PromoteSettings>(promoteParser, [
    {
      title: "a revision: the ledger found from ./modelship.yml or .modelship",
      given: { revision: "r3" },
      settings: { revision: "r3", state: {}, json: false },
    },
    {
      title: "a reason and where the ledger is",
      given: { revision: "r3", reason: "hotfix", "state-dir": "state", config: "ship.yml" },
      settings: { reason: "hotfix", state: { stateDir: resolve("state"), config: resolve("ship.yml") } },
    },
    {
      title: "the revision is required",
      given: { reason: "x" },
      error: { name: "revision", problem: "is required", fix: "modelship status" },
    },
    { title: "cli: --json", only: "cli", given: { revision: "r1", json: true }, settings: { json: true } },
  ]);
});
