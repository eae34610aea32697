import { resolve } from "node:path";
import { describe } from "vitest";
import { type StatusSettings, statusParser } from "../../src/settings/status.js";
import { settingsTable } from "./settings-table.js";

describe("status settings", () => {
  settingsTable<StatusSettings>(statusParser, [
    { title: "nothing given", given: {}, settings: { state: {}, json: false } },
    {
      title: "where the ledger is",
      given: { "state-dir": "state", config: "ship.yml" },
      settings: { state: { stateDir: resolve("state"), config: resolve("ship.yml") } },
    },
    { title: "cli: --json", only: "cli", given: { json: true }, settings: { json: true } },
    {
      title: "cli: an empty --state-dir is refused",
      only: "cli",
      given: { "state-dir": "" },
      error: { name: "state-dir", problem: "is empty" },
    },
  ]);
});
