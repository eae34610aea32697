import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSize } from "../../src/config/size.js";
import { DEFAULT_LIMITS } from "../../src/serve/server.js";
import { type ServeSettings, serveParser } from "../../src/settings/serve.js";
import { parseAs, type Row, settingsError } from "./settings-table.js";

const base = { model: "m.onnx", port: "0" };

// serve has no action: every row goes through the CLI's flags.
const rows: Row<ServeSettings>[] = [
  {
    title: "the defaults",
    given: base,
    settings: {
      model: resolve("m.onnx"),
      port: 0,
      name: "model",
      host: "127.0.0.1",
      limits: { ...DEFAULT_LIMITS },
      bodyTimeoutMs: 30_000,
      exitWithStdin: false,
      json: false,
    },
  },
  {
    title: "limits: sizes as modelship.yml writes them, counts as whole numbers",
    given: {
      ...base,
      "max-body-size": "64KiB",
      "max-response-size": "2MB",
      "max-elements": "5000",
      "max-inflight": "2",
      "max-queued": "0",
    },
    settings: {
      limits: {
        maxBodyBytes: 65_536,
        maxResponseBytes: 2_000_000,
        maxElements: 5000,
        maxInflight: 2,
        maxQueued: 0,
      },
    },
  },
  {
    title: "a size in plain bytes",
    given: { ...base, "max-body-size": "4096" },
    settings: { limits: { ...DEFAULT_LIMITS, maxBodyBytes: 4096 } },
  },
  {
    title: "a body timeout as modelship.yml writes durations",
    given: { ...base, "body-timeout": "1m30s" },
    settings: { bodyTimeoutMs: 90_000 },
  },
  {
    title: "a body timeout of nothing",
    given: { ...base, "body-timeout": "0s" },
    error: { name: "body-timeout", problem: "must be" },
  },
  {
    title: "no port",
    given: { model: "m.onnx" },
    error: { name: "port", problem: "is required", fix: "0 picks a free one" },
  },
  {
    title: "a size that is not one",
    given: { ...base, "max-response-size": "lots" },
    error: { name: "max-response-size", problem: 'must be a size, got "lots"', fix: '"10MiB"' },
  },
  {
    title: "a body limit past what a JSON string can hold",
    given: { ...base, "max-body-size": "1GiB" },
    error: { name: "max-body-size", problem: "must be from 1024 to 536870912 bytes" },
  },
  {
    title: "no turn at all",
    given: { ...base, "max-inflight": "0" },
    error: { name: "max-inflight", problem: "must be a whole number from 1 to 1024" },
  },
];

describe("serve settings (CLI only)", () => {
  it.each(rows.map((row) => [row.title, row] as const))("%s", (_, row) => {
    if (row.error) {
      const error = settingsError(() => parseAs(serveParser, "cli", row.given));
      expect(error.label).toBe(`--${row.error.name}`);
      expect(error.problem).toContain(row.error.problem);
      if (row.error.fix !== undefined) expect(error.fix).toContain(row.error.fix);
      return;
    }
    expect(parseAs(serveParser, "cli", row.given)).toMatchObject(row.settings ?? {});
  });
});

describe("parseSize (the grammar of validation.maxSize)", () => {
  it("reads bytes and units, decimal and binary, any case", () => {
    expect(parseSize("1048576")).toBe(1_048_576);
    expect(parseSize(512)).toBe(512);
    expect(parseSize("64 KiB")).toBe(65_536);
    expect(parseSize("1.5mib")).toBe(1_572_864);
    expect(parseSize("500MB")).toBe(500_000_000);
    expect(parseSize("2GiB")).toBe(2 ** 31);
  });
  it("refuses what is not a size above 0", () => {
    for (const bad of ["", "0", "-1", "1XB", "1e3", "0.4B", "1".repeat(40), "MB"]) {
      expect(() => parseSize(bad), bad).toThrow(/is not a size/);
    }
  });
});
