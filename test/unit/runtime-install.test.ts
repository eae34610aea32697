import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ORT_VERSION, runtimeDir } from "../../src/onnx/runtime-install.js";

describe("onnxruntime-node installed on first use", () => {
  it("installs the version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8")) as {
      optionalDependencies: Record<string, string>;
    };
    expect(pkg.optionalDependencies["onnxruntime-node"]?.replace(/^[\^~]/, "")).toBe(ORT_VERSION);
  });

  it("caches in MODELSHIP_RUNTIME_DIR, else the runner's tool cache, else ~/.cache, one directory per version", () => {
    expect(runtimeDir({ MODELSHIP_RUNTIME_DIR: "/x/rt", RUNNER_TOOL_CACHE: "/opt/hostedtoolcache" })).toBe(
      "/x/rt",
    );
    expect(runtimeDir({ RUNNER_TOOL_CACHE: "/opt/hostedtoolcache" })).toBe(
      `/opt/hostedtoolcache/modelship/onnxruntime-node-${ORT_VERSION}`,
    );
    expect(runtimeDir({})).toMatch(
      new RegExp(`/\\.cache/modelship/onnxruntime-node-${ORT_VERSION.replaceAll(".", "\\.")}$`),
    );
  });
});
