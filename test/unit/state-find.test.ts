import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { findState } from "../../src/targets/open.js";

describe("findState (status, promote, rollback)", () => {
  it("takes the directory given, else the config's target.stateDir, else .modelship", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-statedir-"));
    try {
      const config = join(dir, "modelship.yml");
      await writeFile(
        config,
        "model: { name: iris, path: m.onnx }\ntarget: { kind: local, stateDir: state/here }\n",
      );
      const ledgerIn = async (locator: { config?: string; stateDir?: string }) =>
        (await findState(locator)).location;
      expect(await ledgerIn({ config, stateDir: "elsewhere" })).toBe(resolve("elsewhere", "ledger.json"));
      expect(await ledgerIn({ config })).toBe(join(dir, "state", "here", "ledger.json"));
      expect(await ledgerIn({})).toBe(resolve(".modelship", "ledger.json"));
      await expect(findState({ config: join(dir, "missing.yml") })).rejects.toThrow(/missing\.yml/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("finds a kubernetes target's ledger in its cluster, without contacting it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-statedir-"));
    try {
      const config = join(dir, "modelship.yml");
      await writeFile(
        config,
        "model: { name: iris, path: m.onnx }\ntarget: { kind: kubernetes, namespace: ml }\n",
      );
      expect((await findState({ config })).location).toBe("configmap/modelship-iris in namespace ml");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
