// The three workflows users copy: the minimal permissions, each said why, and the concurrency
// that keeps one rollout at a time and one preview group per PR.
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const dir = resolve(import.meta.dirname, "..", "..", "workflows");
const expected: Record<string, Record<string, string>> = {
  "deploy.yml": { contents: "read", deployments: "write" },
  "preview.yml": { contents: "read", "pull-requests": "write", deployments: "write" },
  "rollback.yml": { contents: "read", deployments: "write" },
};

describe("GitHub-native workflows", () => {
  for (const [file, permissions] of Object.entries(expected)) {
    it(`${file}: exactly the permissions it needs, each with a comment saying why`, async () => {
      const text = await readFile(join(dir, file), "utf8");
      const workflow = parse(text) as { permissions: Record<string, string> };
      expect(workflow.permissions).toEqual(permissions);
      for (const name of Object.keys(permissions))
        expect(text, `${file}: ${name}`).toMatch(new RegExp(`^  ${name}: \\w+ # \\S`, "m"));
    });
  }

  it("deploy and rollback share one group and never cancel a rollout; previews are grouped per PR and superseded", async () => {
    const read = async (f: string) =>
      parse(await readFile(join(dir, f), "utf8")) as {
        concurrency: { group: string; "cancel-in-progress": boolean };
        on: Record<string, { types?: string[] }>;
      };
    const [deploy, rollback, preview] = await Promise.all(
      ["deploy.yml", "rollback.yml", "preview.yml"].map(read),
    );
    expect(deploy?.concurrency).toEqual(rollback?.concurrency);
    expect(deploy?.concurrency["cancel-in-progress"]).toBe(false);
    expect(preview?.concurrency.group).toContain("github.event.pull_request.number");
    expect(preview?.concurrency["cancel-in-progress"]).toBe(true);
    expect(preview?.on.pull_request?.types).toEqual(["opened", "synchronize", "reopened", "closed"]);
    expect(Object.keys(preview?.on ?? {})).not.toContain("pull_request_target");
  });
});
