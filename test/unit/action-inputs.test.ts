// Every action.yml declares exactly the inputs its code reads. The check runs each action's entry
// with @actions/core's getInput recording the names asked for (every input given a value no parser
// accepts, so the entry stops at its settings, inside a temporary directory), and compares them with
// the yml: an input added on one side only fails here.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as core from "@actions/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { actions } from "../../src/actions/index.js";
import { benchmarkParser } from "../../src/settings/benchmark.js";
import { buildParser } from "../../src/settings/build.js";
import type { Stage } from "../../src/settings/fields.js";
import { gateParser } from "../../src/settings/gate.js";
import { fromInputs } from "../../src/settings/sources.js";
import { validateParser } from "../../src/settings/validate.js";

vi.mock("@actions/core", async (importOriginal) => {
  const real = await importOriginal<typeof import("@actions/core")>();
  const quiet = () => {};
  return {
    ...real,
    getInput: vi.fn(() => ""),
    setSecret: vi.fn(quiet),
    setOutput: vi.fn(quiet),
    setFailed: vi.fn(quiet),
    info: vi.fn(quiet),
    warning: vi.fn(quiet),
    error: vi.fn(quiet),
    notice: vi.fn(quiet),
  };
});

const root = resolve(import.meta.dirname, "..", "..");

interface ActionYml {
  inputs?: Record<string, { default?: string; required?: boolean }>;
}

/** Every action.yml: the root one is the `run` action, actions/<name>/action.yml the others. */
async function actionFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = { run: join(root, "action.yml") };
  for (const entry of await readdir(join(root, "actions"), { withFileTypes: true })) {
    if (entry.isDirectory()) files[entry.name] = join(root, "actions", entry.name, "action.yml");
  }
  return files;
}

async function declaredInputs(file: string): Promise<ActionYml["inputs"] & object> {
  return (parse(await readFile(file, "utf8")) as ActionYml).inputs ?? {};
}

const files = await actionFiles();
let work: string;
let cwd: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "modelship-action-inputs-"));
  cwd = process.cwd();
  // Whatever an entry touches before it fails (a lock, a state directory) stays in here.
  process.chdir(work);
  vi.stubEnv("RUNNER_TEMP", work);
});
afterAll(async () => {
  process.chdir(cwd);
  vi.unstubAllEnvs();
  await rm(work, { recursive: true, force: true });
});

describe("action.yml inputs against the code that reads them", () => {
  it("every action.yml has an entry in src/actions, and every entry an action.yml", () => {
    expect(Object.keys(files).sort()).toEqual(Object.keys(actions).sort());
  });

  for (const [name, file] of Object.entries(files)) {
    it(`${name}: the inputs its code reads are exactly the ones declared`, async () => {
      const declared = Object.keys(await declaredInputs(file));
      const read = new Set<string>();
      // A path that does not exist: no boolean, number, URL or config accepts it.
      const nowhere = join(work, "not-there");
      vi.mocked(core.getInput).mockImplementation((input: string) => {
        read.add(input);
        return nowhere;
      });
      const entry = actions[name as keyof typeof actions];
      await expect(entry(), `${name} should stop at its settings`).rejects.toThrow();
      const undeclared = [...read].filter((input) => !declared.includes(input));
      const unread = declared.filter((input) => !read.has(input));
      expect({ undeclared, unread }, `${file}`).toEqual({ undeclared: [], unread: [] });
    });
  }
});

// Minimal valid inputs for the actions whose entries parse through a settings module.
const parsers: Record<string, [Stage<unknown>, Record<string, string>]> = {
  validate: [validateParser, { path: "m" }],
  benchmark: [benchmarkParser, { url: "http://127.0.0.1:1", "model-name": "iris", rate: "1" }],
  build: [buildParser, { model: "m", image: "registry.test/iris:1" }],
  gate: [gateParser, { url: "http://127.0.0.1:1" }],
};

describe("action.yml defaults", () => {
  for (const [name, [stage, inputs]] of Object.entries(parsers)) {
    it(`${name}: each default is the parser's own, so the CLI (which has no yml) behaves the same`, async () => {
      const defaults = Object.fromEntries(
        Object.entries(await declaredInputs(files[name] as string)).flatMap(([input, spec]) =>
          spec.default === undefined ? [] : [[input, spec.default]],
        ),
      );
      const parseWith = (given: Record<string, string>) => fromInputs(stage, (input) => given[input] ?? "");
      expect(parseWith({ ...defaults, ...inputs })).toEqual(parseWith(inputs));
    });
  }
});
