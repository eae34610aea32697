import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withKubeconfig } from "../../src/actions/kubeconfig.js";
import { deployParser } from "../../src/settings/deploy.js";
import { fromInputs } from "../../src/settings/sources.js";

let dir: string;
const saved = { RUNNER_TEMP: process.env.RUNNER_TEMP, KUBECONFIG: process.env.KUBECONFIG };
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-kubeconfig-"));
  process.env.RUNNER_TEMP = dir;
  process.env.KUBECONFIG = "/original";
});
afterEach(async () => {
  process.env.RUNNER_TEMP = saved.RUNNER_TEMP;
  if (saved.KUBECONFIG === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = saved.KUBECONFIG;
  await rm(dir, { recursive: true, force: true });
});

const CONTENT = "apiVersion: v1\nkind: Config\nusers:\n- user:\n    token: s3cr3t-token-value\n";

describe("the kubeconfig input", () => {
  it("is written 0600 under RUNNER_TEMP as KUBECONFIG for the step, then removed and KUBECONFIG restored", async () => {
    let seen = "";
    await withKubeconfig(CONTENT, async () => {
      seen = process.env.KUBECONFIG as string;
      expect(seen.startsWith(dir)).toBe(true);
      expect(readFileSync(seen, "utf8")).toBe(CONTENT);
      expect(statSync(seen).mode & 0o777).toBe(0o600);
    });
    expect(existsSync(seen)).toBe(false);
    expect(process.env.KUBECONFIG).toBe("/original");
  });

  it("is removed when the step fails too", async () => {
    await expect(withKubeconfig(CONTENT, async () => Promise.reject(new Error("boom")))).rejects.toThrow(
      "boom",
    );
    expect(await readdir(dir)).toEqual([]);
    expect(process.env.KUBECONFIG).toBe("/original");
  });

  it("leaves KUBECONFIG alone without the input", async () => {
    await withKubeconfig(undefined, async () => expect(process.env.KUBECONFIG).toBe("/original"));
  });

  it("is masked, line by line, before anything is parsed", () => {
    const masked: string[] = [];
    const inputs: Record<string, string> = { kubeconfig: CONTENT };
    const settings = fromInputs(
      deployParser,
      (name) => inputs[name] ?? "",
      (s) => masked.push(s),
    );
    expect(settings.kubeconfig).toBe(CONTENT);
    expect(masked).toContain("token: s3cr3t-token-value");
    expect(masked).toContain("s3cr3t-token-value");
  });
});
