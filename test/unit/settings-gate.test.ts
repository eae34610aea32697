import { resolve } from "node:path";
import { describe } from "vitest";
import { type GateSettings, gateParser } from "../../src/settings/gate.js";
import { settingsTable } from "./settings-table.js";

describe("gate settings", () => {
  settingsTable<GateSettings>(gateParser, [
    {
      title: "a URL alone: the config's duration, labels for config errors",
      given: { url: "http://127.0.0.1:8080" },
      settings: (label) => ({
        url: "http://127.0.0.1:8080",
        locator: {
          labels: {
            "model.path": label("model-path"),
            "model.name": label("model-name"),
            "target.stateDir": label("state-dir"),
          },
        },
        json: false,
      }),
    },
    {
      title: "the config and its overrides",
      given: {
        url: "http://h",
        config: "ship.yml",
        "model-path": "m",
        "model-name": "iris",
        "state-dir": "s",
      },
      settings: {
        locator: {
          config: resolve("ship.yml"),
          modelPath: resolve("m"),
          modelName: "iris",
          stateDir: resolve("s"),
        },
      } as Partial<GateSettings>,
    },
    { title: "a duration in seconds", given: { url: "http://h", duration: "5" }, settings: { durationS: 5 } },
    {
      title: "a duration as the config writes it (the CLI refused 3s)",
      given: { url: "http://h", duration: "3s" },
      settings: { durationS: 3 },
    },
    { title: "two minutes", given: { url: "http://h", duration: "2m" }, settings: { durationS: 120 } },
    {
      title: "not a duration (the action passed NaN on)",
      given: { url: "http://h", duration: "ten" },
      error: { name: "duration", problem: 'must be a duration, got "ten"' },
    },
    {
      title: "under a second",
      given: { url: "http://h", duration: "500ms" },
      error: { name: "duration", problem: "must be from 1s to 1h" },
    },
    {
      title: "over an hour",
      given: { url: "http://h", duration: "2h" },
      error: { name: "duration", problem: "must be from 1s to 1h" },
    },
    { title: "the URL is required", given: {}, error: { name: "url", problem: "is required" } },
  ]);
});
