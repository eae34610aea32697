import { resolve } from "node:path";
import { describe } from "vitest";
import { type ValidateSettings, validateParser } from "../../src/settings/validate.js";
import { settingsTable } from "./settings-table.js";

describe("validate settings", () => {
  settingsTable<ValidateSettings>(validateParser, [
    {
      title: "a path alone: no policy switches",
      given: { path: "models/v2" },
      settings: { path: resolve("models/v2"), strict: false, skipSmoke: false, json: false },
    },
    {
      title: "config, baseline, strict and skip-smoke",
      given: { path: "m", config: "ship.yml", baseline: "old.json", strict: true, "skip-smoke": true },
      settings: {
        path: resolve("m"),
        config: resolve("ship.yml"),
        baseline: resolve("old.json"),
        strict: true,
        skipSmoke: true,
      },
    },
    {
      title: "the path is required",
      given: {},
      error: { name: "path", problem: "is required", fix: "model file or directory" },
    },
    {
      title: "an empty baseline is refused",
      given: { path: "m", baseline: "" },
      only: "cli",
      error: { name: "baseline", problem: "is empty" },
    },
    {
      title: "action: strict false and skip-smoke False are read as false",
      given: { path: "m", strict: "false", "skip-smoke": "False" },
      only: "action",
      settings: { strict: false, skipSmoke: false },
    },
    {
      title: "action: strict must be true or false, not yes (it used to be silently false)",
      given: { path: "m", strict: "yes" },
      only: "action",
      error: { name: "strict", problem: 'must be true or false, got "yes"' },
    },
    {
      title: "action: True means true (it used to be silently false)",
      given: { path: "m", strict: "True" },
      only: "action",
      settings: { strict: true },
    },
    {
      title: "cli: --json",
      given: { path: "m", json: true },
      only: "cli",
      settings: { json: true },
    },
  ]);
});
