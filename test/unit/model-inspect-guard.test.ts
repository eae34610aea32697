// inspectFile never throws: should a reader fail on some input with an error it did not mean (a RangeError
// from a number it did not expect), the file is rejected with a finding, and validate goes on.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Finding } from "../../src/model/findings.js";
import { inspectFile } from "../../src/model/inspect-file.js";
import { DEFAULT_POLICY } from "../../src/model/policy.js";
import { validateModel } from "../../src/model/validate.js";

vi.mock("../../src/model/npy.js", async (original) => ({
  ...(await original<typeof import("../../src/model/npy.js")>()),
  inspectNpy: async () => {
    throw new RangeError("The number Infinity cannot be converted to a BigInt because it is not an integer");
  },
}));

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-guard-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const npyBytes = Buffer.concat([
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 6, 0]),
  Buffer.from("{}    "),
]);

describe("a reader that fails unexpectedly", () => {
  it("rejects the file with FILE_UNCHECKED, naming the error, instead of throwing", async () => {
    const path = join(dir, "a.npy");
    await writeFile(path, npyBytes);
    const findings: Finding[] = [];
    const artifact = await inspectFile(
      { path: "a.npy", absolutePath: path, size: npyBytes.length },
      DEFAULT_POLICY,
      findings,
    );
    expect(artifact).toEqual({ file: "a.npy", format: "numpy" });
    expect(findings).toEqual([
      expect.objectContaining({ severity: "error", code: "FILE_UNCHECKED", file: "a.npy" }),
    ]);
    expect(findings[0]?.message).toContain("Infinity cannot be converted");
  });

  it("still gives validate a report, and checks the other files", async () => {
    await writeFile(join(dir, "a.npy"), npyBytes);
    await writeFile(join(dir, "readme.txt"), "hello");
    const report = await validateModel(dir, { policy: { smokeRun: false } });
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.code)).toEqual(["FILE_UNCHECKED"]);
    expect(report.files.map((f) => f.path).sort()).toEqual(["a.npy", "readme.txt"]);
  });
});
