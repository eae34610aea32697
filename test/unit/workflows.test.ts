// The workflows users copy must only use inputs and outputs our actions declare.
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = resolve(import.meta.dirname, "..", "..");

interface ActionMeta {
  inputs?: Record<string, { required?: boolean }>;
  outputs?: Record<string, unknown>;
}
interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
  run?: string;
}

async function actionFor(uses: string): Promise<ActionMeta | undefined> {
  const match = /^OWNER\/modelship(?:\/(actions\/[a-z]+))?@v1$/.exec(uses);
  if (!match) return undefined;
  const file = join(root, match[1] ?? "", "action.yml");
  return parse(await readFile(file, "utf8")) as ActionMeta;
}

describe("workflows/", async () => {
  const files = (await readdir(join(root, "workflows"))).filter((f) => f.endsWith(".yml"));
  it("has the workflows the README points at", () => {
    expect(files).toEqual(expect.arrayContaining(["deploy.yml", "preview.yml", "rollback.yml"]));
  });
  for (const file of files) {
    it(`${file}: every modelship step uses declared inputs, gives required ones, and reads declared outputs`, async () => {
      const workflow = parse(await readFile(join(root, "workflows", file), "utf8")) as {
        jobs: Record<string, { steps: Step[] }>;
      };
      for (const job of Object.values(workflow.jobs)) {
        const outputsById = new Map<string, string[]>();
        let modelshipSteps = 0;
        for (const step of job.steps) {
          const action = step.uses ? await actionFor(step.uses) : undefined;
          if (action) {
            modelshipSteps++;
            const declared = Object.keys(action.inputs ?? {});
            for (const name of Object.keys(step.with ?? {}))
              expect(declared, `${file}: input ${name}`).toContain(name);
            for (const [name, spec] of Object.entries(action.inputs ?? {})) {
              if (spec.required)
                expect(Object.keys(step.with ?? {}), `${file}: required ${name}`).toContain(name);
            }
            if (step.id) outputsById.set(step.id, Object.keys(action.outputs ?? {}));
          }
          for (const [, id, output] of (step.run ?? "").matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
            expect(outputsById.get(id as string), `${file}: steps.${id}.outputs.${output}`).toContain(output);
          }
        }
        expect(modelshipSteps).toBeGreaterThan(0);
      }
    });
  }
});
