// deploy and run (the root action) share these settings.
import { resolve } from "node:path";
import { describe } from "vitest";
import { type DeploySettings, deployParser } from "../../src/settings/deploy.js";
import { settingsTable } from "./settings-table.js";

describe("deploy and run settings", () => {
  settingsTable<DeploySettings>(deployParser, [
    {
      title: "nothing given: ./modelship.yml, no resume, labels for config errors",
      given: {},
      settings: (label) => ({
        locator: {
          labels: {
            "model.path": label("model-path"),
            "model.name": label("model-name"),
            "target.stateDir": label("state-dir"),
          },
        },
        resume: false,
        json: false,
      }),
    },
    {
      title: "the config and its overrides",
      given: { config: "ship.yml", "model-path": "models/v2", "model-name": "iris", "state-dir": "state" },
      settings: {
        locator: {
          config: resolve("ship.yml"),
          modelPath: resolve("models/v2"),
          modelName: "iris",
          stateDir: resolve("state"),
        },
      } as Partial<DeploySettings>,
    },
    { title: "resume an unfinished canary", given: { resume: true }, settings: { resume: true } },
    {
      title: "action: resume false",
      only: "action",
      given: { resume: "false" },
      settings: { resume: false },
    },
    {
      title: "action: resume must be true or false",
      only: "action",
      given: { resume: "please" },
      error: { name: "resume", problem: 'must be true or false, got "please"' },
    },
    {
      title: "cli: an empty --model is refused",
      only: "cli",
      given: { "model-path": "" },
      error: { name: "model-path", problem: "is empty" },
    },
    { title: "cli: --json", only: "cli", given: { json: true }, settings: { json: true } },
    {
      title: "the image to run, by digest",
      given: { image: `ghcr.io/acme/iris@sha256:${"a".repeat(64)}` },
      settings: { image: `ghcr.io/acme/iris@sha256:${"a".repeat(64)}` },
    },
    {
      title: "an image by tag is refused: it could move under a running rollout",
      given: { image: "ghcr.io/acme/iris:latest" },
      error: {
        name: "image",
        problem: 'must name an image by digest (repository@sha256:…), got "ghcr.io/acme/iris:latest"',
      },
    },
    { title: "cli: --dry-run", only: "cli", given: { "dry-run": true }, settings: { dryRun: true } },
  ]);
});
