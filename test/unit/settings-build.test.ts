import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { type BuildSettings, buildParser, stageOptions } from "../../src/settings/build.js";
import { parseAs, settingsTable } from "./settings-table.js";

const base = { model: "models/v2", image: "127.0.0.1:5000/iris:v2" };

describe("build settings", () => {
  settingsTable<BuildSettings>(buildParser, [
    {
      title: "model and image: daemonless, pushed",
      given: base,
      settings: {
        model: resolve("models/v2"),
        image: "127.0.0.1:5000/iris:v2",
        tags: [],
        platforms: [],
        push: true,
        insecureRegistries: [],
        builder: "daemonless",
        cacheFrom: [],
        cacheTo: [],
        json: false,
      },
    },
    {
      title: "only an OCI layout: not pushed",
      given: { ...base, "oci-layout": "out" },
      settings: { ociLayout: resolve("out"), push: false },
    },
    {
      title: "an OCI layout and a push",
      given: { ...base, "oci-layout": "out", push: true },
      settings: { ociLayout: resolve("out"), push: true },
    },
    {
      // The CLI used to push here: the registry may only be there for the base's pull.
      title: "insecure registries do not make a layout-only build push",
      given: { ...base, "oci-layout": "out", "insecure-registries": ["127.0.0.1:5000"] },
      settings: { push: false, insecureRegistries: ["127.0.0.1:5000"] },
    },
    {
      title: "tags, platforms and registries: repeated, one a line or comma-separated",
      given: {
        ...base,
        tags: ["stable,latest", "v2.0"],
        platforms: ["linux/amd64, linux/arm64"],
        "insecure-registries": ["a:5000,b:5000"],
      },
      settings: {
        tags: ["stable", "latest", "v2.0"],
        platforms: ["linux/amd64", "linux/arm64"],
        insecureRegistries: ["a:5000", "b:5000"],
      },
    },
    {
      title: "buildx cache values keep their commas",
      given: { ...base, builder: "docker", "cache-from": ["type=gha"], "cache-to": ["type=gha,mode=max"] },
      settings: { builder: "docker", cacheFrom: ["type=gha"], cacheTo: ["type=gha,mode=max"] },
    },
    {
      title: "a runtime preset with its model name, a version, a chunk size",
      given: {
        ...base,
        runtime: "triton",
        "runtime-name": "iris",
        version: "2.0.0",
        "chunk-size": "1048576",
      },
      settings: { runtime: { preset: "triton", name: "iris" }, version: "2.0.0", chunkSize: 1_048_576 },
    },
    {
      title: "the Dockerfile and context resolved",
      given: { ...base, builder: "docker", dockerfile: "Dockerfile.gpu", context: "ctx" },
      settings: { dockerfile: resolve("Dockerfile.gpu"), context: resolve("ctx") },
    },
    {
      // The action accepted custom, which then failed after validation for want of a path.
      title: "the custom runtime",
      given: { ...base, runtime: "custom" },
      error: { name: "runtime", problem: "cannot be custom here", fix: "image.runtime in modelship.yml" },
    },
    {
      title: "an unknown runtime",
      given: { ...base, runtime: "tritn" },
      error: {
        name: "runtime",
        problem: 'must be one of reference, kserve-modelcar, triton, vllm, tgi, torchserve, got "tritn"',
        fix: 'did you mean "triton"?',
      },
    },
    {
      title: "a runtime name without a runtime",
      given: { ...base, "runtime-name": "iris" },
      error: { name: "runtime-name", problem: "needs {runtime}" },
    },
    {
      // The CLI had no whole-number check; the action no upper bound.
      title: "a chunk size that is not a whole number",
      given: { ...base, "chunk-size": "100000.5" },
      error: {
        name: "chunk-size",
        problem: 'must be a whole number from 65536 to 1073741824, got "100000.5"',
      },
    },
    {
      title: "a chunk size over 1 GiB",
      given: { ...base, "chunk-size": "2147483648" },
      error: { name: "chunk-size", problem: "must be a whole number from 65536 to 1073741824" },
    },
    {
      title: "a chunk size under 64 KiB",
      given: { ...base, "chunk-size": "1024" },
      error: { name: "chunk-size", problem: "must be a whole number from 65536" },
    },
    {
      title: "an unknown builder",
      given: { ...base, builder: "kaniko" },
      error: { name: "builder", problem: 'must be daemonless or docker, got "kaniko"' },
    },
    {
      title: "an image reference that is not one",
      given: { ...base, image: "Not A Ref" },
      error: { name: "image", problem: "is invalid:" },
    },
    {
      title: "the model is required",
      given: { image: "r/i:1" },
      error: { name: "model", problem: "is required" },
    },
    {
      title: "the image is required",
      given: { model: "m" },
      error: { name: "image", problem: "is required" },
    },

    {
      title: "action: push false",
      only: "action",
      given: { ...base, push: "false" },
      settings: { push: false },
    },
    {
      title: "action: push auto",
      only: "action",
      given: { ...base, push: "auto" },
      settings: { push: true },
    },
    {
      title: "action: push must be auto, true or false",
      only: "action",
      given: { ...base, push: "yes" },
      error: { name: "push", problem: 'must be one of auto, true, false, got "yes"' },
    },
    {
      title: "action: explicit credentials",
      only: "action",
      given: { ...base, username: "u", password: "p" },
      settings: { credentials: { username: "u", password: "p" } },
    },
    {
      title: "action: a username without a password",
      only: "action",
      given: { ...base, username: "u" },
      error: { name: "username", problem: "is given without {password}", fix: "give both, or neither" },
    },
    {
      title: "a Dockerfile with the daemonless builder",
      given: { ...base, dockerfile: "Dockerfile" },
      error: {
        name: "dockerfile",
        problem: "applies to {builder} docker only",
        fix: "add {builder} docker or remove {dockerfile}",
      },
    },
    {
      title: "buildx cache values with the daemonless builder (commas kept, then refused)",
      given: { ...base, "cache-to": ["type=gha,mode=max"] },
      error: { name: "cache-to", problem: "applies to {builder} docker only" },
    },
    {
      title: "a base with builder docker",
      given: { ...base, builder: "docker", base: "ghcr.io/acme/server:1" },
      error: {
        name: "base",
        problem: "applies to the daemonless builder only (the Dockerfile's FROM names the base)",
      },
    },
    {
      title: "an OCI layout with builder docker",
      given: { ...base, builder: "docker", "oci-layout": "out" },
      error: { name: "oci-layout", problem: "applies to the daemonless builder only" },
    },
    {
      title: "action: push false with builder docker",
      only: "action",
      given: { ...base, builder: "docker", push: "false" },
      error: { name: "push", problem: "cannot be false with {builder} docker" },
    },
    { title: "cli: --json", only: "cli", given: { ...base, json: true }, settings: { json: true } },
  ]);

  it("the build stage's options: credentials for the image's registry, model labels, empty lists left out", () => {
    const settings = parseAs(buildParser, "action", { ...base, username: "u", password: "p", tags: ["x"] });
    const secrets: string[] = [];
    const options = stageOptions(
      settings,
      { digest: "sha256:abc", format: "onnx" },
      { log: console, onSecret: (s) => secrets.push(s) },
    );
    expect(options).toMatchObject({
      builder: "daemonless",
      modelDir: resolve("models/v2"),
      tags: ["x"],
      push: true,
      registry: {
        insecureRegistries: [],
        credentials: { explicit: { "127.0.0.1:5000": { username: "u", password: "p" } } },
      },
      labels: { "io.modelship.model.digest": "sha256:abc", "io.modelship.model.format": "onnx" },
    });
    expect(options).not.toHaveProperty("cacheFrom");
    expect(options).not.toHaveProperty("platforms");
    options.registry?.credentials?.onSecret?.("s");
    expect(secrets).toEqual(["s"]);
  });
});
