// preview's settings: the same table through the CLI's flags and the action's inputs.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type PreviewSettings, previewParser } from "../../src/settings/preview.js";
import { fromInputs } from "../../src/settings/sources.js";
import { settingsTable } from "./settings-table.js";

describe("preview settings", () => {
  settingsTable<PreviewSettings>(previewParser, [
    {
      title: "nothing given: deploy mode, comment, fail on regression, deployments on",
      given: {},
      settings: { mode: "deploy", comment: true, failOnRegression: true, github: { deployments: true } },
    },
    { title: "cleanup mode", given: { mode: "cleanup" }, settings: { mode: "cleanup" } },
    {
      title: "an unknown mode is refused with a suggestion",
      given: { mode: "cleanpu" },
      error: {
        name: "mode",
        problem: 'must be deploy or cleanup, got "cleanpu"',
        fix: 'did you mean "cleanup"?',
      },
    },
    {
      title: "the PR number (workflow_run pattern)",
      given: { "pull-request": "42" },
      settings: { pullRequest: 42 },
    },
    {
      title: "a PR number must be a whole number",
      given: { "pull-request": "4.2" },
      error: { name: "pull-request", problem: "must be a whole number" },
    },
    {
      title: "the base commit, lower-cased",
      given: { "base-sha": "9049F1265B7D61BE4A8904A9A27120D2064DAB3B" },
      settings: { baseSha: "9049f1265b7d61be4a8904a9a27120d2064dab3b" },
    },
    {
      title: "a base that is not a sha is refused (never handed to git as an option)",
      given: { "base-sha": "--upload-pack=evil" },
      error: { name: "base-sha", problem: "must be a commit sha" },
    },
    {
      title: "the config and its overrides",
      given: { config: "ship.yml", "model-path": "models/v2" },
      settings: {
        locator: expect.objectContaining({ config: resolve("ship.yml"), modelPath: resolve("models/v2") }),
      },
    },
    {
      title: "the PR's image by digest for the live preview, and its lifetime",
      given: { image: `registry.example/iris@sha256:${"a".repeat(64)}`, "ttl-hours": "12" },
      settings: { image: `registry.example/iris@sha256:${"a".repeat(64)}`, ttlHours: 12 },
    },
    { title: "the live preview lives 72 h by default", given: {}, settings: { ttlHours: 72 } },
    {
      title: "an image by tag is refused: the preview runs what was evaluated",
      given: { image: "registry.example/iris:pr-12" },
      error: { name: "image", problem: "must name an image by digest" },
    },
    {
      title: "action: comment and deployments off, fail-on-regression false",
      only: "action",
      given: { comment: "false", "github-deployments": "false", "fail-on-regression": "false" },
      settings: { comment: false, failOnRegression: false, github: { deployments: false } },
    },
    {
      title: "action: the token is read",
      only: "action",
      given: { "github-token": "ghs_abc" },
      settings: { github: { token: "ghs_abc", deployments: true } },
    },
    {
      title: "action: comment must be true or false",
      only: "action",
      given: { comment: "yes" },
      error: { name: "comment", problem: 'must be true or false, got "yes"' },
    },
    {
      title: "action: environment-url must be a URL",
      only: "action",
      given: { "environment-url": "javascript:alert(1)" },
      error: { name: "environment-url", problem: "must be an http(s) URL" },
    },
  ]);

  it("masks the token and the kubeconfig before parsing", () => {
    const masked: string[] = [];
    const inputs: Record<string, string> = {
      "github-token": "ghs_secret-token",
      kubeconfig: "token: abcdefgh12345",
    };
    fromInputs(
      previewParser,
      (n) => inputs[n] ?? "",
      (s) => masked.push(s),
    );
    expect(masked).toContain("ghs_secret-token");
    expect(masked).toContain("abcdefgh12345");
  });

  it("action.yml's defaults are the parser's own (the token's is the runner's expression)", async () => {
    const yml = parse(
      await readFile(resolve(import.meta.dirname, "../../actions/preview/action.yml"), "utf8"),
    ) as {
      inputs: Record<string, { default?: string }>;
    };
    const defaults = Object.fromEntries(
      Object.entries(yml.inputs).flatMap(([k, v]) =>
        v.default === undefined || k === "github-token" ? [] : [[k, v.default]],
      ),
    );
    // The runner evaluates this expression; the parser never sees it.
    expect(yml.inputs["github-token"]?.default).toBe(["$", "{{ github.token }}"].join(""));
    const parseWith = (given: Record<string, string>) => fromInputs(previewParser, (n) => given[n] ?? "");
    expect(parseWith(defaults)).toEqual(parseWith({}));
  });
});
