import { resolve } from "node:path";
import { describe } from "vitest";
import { type RollbackSettings, rollbackParser } from "../../src/settings/rollback.js";
import { settingsTable } from "./settings-table.js";

describe("rollback settings", () => {
  settingsTable<RollbackSettings>(rollbackParser, [
    { title: "nothing given: the previous stable revision", given: {}, settings: { state: {}, json: false } },
    {
      title: "a named revision, a reason, where the ledger is",
      given: { to: "r1", reason: "bad canary", "state-dir": "state", config: "ship.yml" },
      settings: {
        to: "r1",
        reason: "bad canary",
        state: { stateDir: resolve("state"), config: resolve("ship.yml") },
      },
    },
    {
      title: "cli: an empty --to is refused",
      only: "cli",
      given: { to: "" },
      error: { name: "to", problem: "is empty" },
    },
    { title: "cli: --json", only: "cli", given: { json: true }, settings: { json: true } },
  ]);
});
