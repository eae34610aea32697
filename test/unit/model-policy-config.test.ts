import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/config/index.js";
import { DEFAULT_POLICY } from "../../src/model/policy.js";

const base = "model: { name: m, path: models/v1 }\n";

describe("validation: in modelship.yml", () => {
  it("defaults to the default policy", () => {
    expect(parseConfig(base, "/w/modelship.yml").validation).toEqual(DEFAULT_POLICY);
  });

  it("reads every key, sizes with units", () => {
    const config = parseConfig(
      `${base}validation:\n  formats: [onnx, safetensors]\n  maxSize: 2GiB\n  pickle: strict\n  allowGlobals: [mylib.models.Net]\n  requiredFiles: [tokenizer.json]\n  allowBreakingChanges: true\n  smokeRun: false\n`,
      "/w/modelship.yml",
    );
    expect(config.validation).toEqual({
      formats: ["onnx", "safetensors"],
      maxSizeBytes: 2 ** 31,
      pickle: "strict",
      allowGlobals: ["mylib.models.Net"],
      requiredFiles: ["tokenizer.json"],
      allowBreakingChanges: true,
      smokeRun: false,
    });
    expect(parseConfig(`${base}validation: { maxSize: 500MB }\n`, "/w/m.yml").validation.maxSizeBytes).toBe(
      5e8,
    );
  });

  it.each([
    ["formats: [tensorflow]", "validation.formats"],
    ["maxSize: lots", "validation.maxSize"],
    ["maxSize: -1", "validation.maxSize"],
    ["pickle: sometimes", "validation.pickle"],
    ["allowGlobals: [os]", "validation.allowGlobals"],
    ["smokRun: true", "smokRun"],
  ])("rejects %s with the key and line", (line, key) => {
    try {
      parseConfig(`${base}validation:\n  ${line}\n`, "/w/modelship.yml");
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain(key);
      expect((error as Error).message).toMatch(/modelship\.yml:3:/);
    }
  });
});
