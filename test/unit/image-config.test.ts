// The image keys of modelship.yml: platforms, runtime, builder, dockerfile, context.
import { describe, expect, it } from "vitest";
import { type ConfigIssue, parseConfig } from "../../src/config/index.js";
import { configError } from "./config-helpers.js";

const FILE = "/repo/modelship.yml";
const MODEL = "model:\n  name: iris\n  path: models/v2\n";

function issues(text: string): ConfigIssue[] {
  return configError(() => parseConfig(text, FILE)).issues;
}

describe("image config", () => {
  it("resolves platforms, a runtime mapping, and the docker builder's paths against the config directory", () => {
    const config = parseConfig(
      `${MODEL}image:
  repository: ghcr.io/acme/iris
  platforms: [linux/amd64, linux/arm64/v8]
  runtime:
    preset: triton
    name: iris
    version: 3
    env: { OMP_NUM_THREADS: "2" }
`,
      FILE,
    );
    expect(config.image).toEqual({
      repository: "ghcr.io/acme/iris",
      push: true,
      platforms: ["linux/amd64", "linux/arm64/v8"],
      runtime: { preset: "triton", name: "iris", version: "3", env: { OMP_NUM_THREADS: "2" } },
    });
    const docker = parseConfig(
      `${MODEL}image:\n  builder: docker\n  dockerfile: serving/Dockerfile\n  context: .\n  platforms: [linux/arm64]\n`,
      FILE,
    );
    expect(docker.image).toEqual({
      builder: "docker",
      push: true,
      dockerfile: "/repo/serving/Dockerfile",
      context: "/repo",
      platforms: ["linux/arm64"],
    });
  });

  it("takes a bare preset name as the runtime", () => {
    expect(parseConfig(`${MODEL}image:\n  runtime: vllm\n`, FILE).image.runtime).toEqual({ preset: "vllm" });
  });

  it.each([
    ["platforms: [linux]", "image.platforms[0]", /os\/arch/],
    ["platforms: [linux/amd64, linux/amd64]", "image.platforms", /twice/],
    ["platforms: ['linux/amd64 --push']", "image.platforms[0]", /os\/arch/],
    ["runtime: tensorflow-serving", "image.runtime.preset", /reference/],
    ["runtime: { preset: custom, path: relative/dir }", "image.runtime.path", /\//],
    ["runtime: { preset: triton, version: 0 }", "image.runtime.version", /.+/],
    ["builder: kaniko", "image.builder", /daemonless/],
  ])("refuses %s at %s", (yaml, path, message) => {
    const found = issues(`${MODEL}image:\n  ${yaml}\n`);
    expect(found.map((i) => i.key)).toContain(path);
    expect(found.map((i) => `${i.message} ${i.expected ?? ""}`).join("\n")).toMatch(message);
    expect(found.every((i) => i.line !== undefined && i.line >= 4)).toBe(true);
  });
});

describe("image config: builder-specific keys", () => {
  it.each([
    ["builder: docker\n  base: ghcr.io/acme/server:1", "image.base"],
    ["builder: docker\n  runtime: triton", "image.runtime"],
    ["dockerfile: Dockerfile", "image.dockerfile"],
    ["builder: daemonless\n  context: .", "image.context"],
  ])("refuses %j at %s", (yaml, key) => {
    const found = issues(`${MODEL}image:\n  ${yaml}\n`);
    expect(found.map((i) => i.key)).toEqual([key]);
    expect(found[0]?.message).toMatch(/builder/);
  });
});

describe("image.push", () => {
  it("pushes by default and keeps the image local only when set to false", () => {
    expect(parseConfig(`${MODEL}image:\n  repository: ghcr.io/acme/iris\n`, FILE).image.push).toBe(true);
    expect(
      parseConfig(`${MODEL}image:\n  repository: ghcr.io/acme/iris\n  push: false\n`, FILE).image.push,
    ).toBe(false);
  });

  it("refuses a value that is not a boolean, naming the line", () => {
    expect(() => parseConfig(`${MODEL}image:\n  push: "sometimes"\n`, FILE)).toThrow(/image\.push/);
  });
});
