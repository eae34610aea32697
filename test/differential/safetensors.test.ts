// modelship's safetensors verdicts against the reference library's (safetensors 0.8.0, safe_open), on
// a corpus made at test time: files from the library's own writers across dtypes and shapes, and
// systematic mutations of them. Two Python processes in all: one writes, one judges every file.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import { runChecker } from "../support/checkers.js";
import { type Case, mutations } from "./safetensors-mutations.js";
import { scratchDir } from "./support.js";

/**
 * Cases where modelship's verdict differs from safe_open's on purpose, with the reason. The test
 * fails on any other disagreement, and on an entry here that no longer disagrees.
 */
const EXPECTED_DISAGREEMENTS: Record<string, string> = {};

const script = join(import.meta.dirname, "safetensors_reference.py");

let dir: string;
let cleanup: () => Promise<void>;
let written: string[];
let cases: Case[];
let reference: Record<string, string | null>;

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir("modelship-diff-safetensors-"));
  const code = await readFile(script, "utf8");
  written = await runChecker<string[]>(code, ["write", dir]);
  cases = mutations(
    await readFile(join(dir, "np-many.safetensors")),
    await readFile(join(dir, "np-float32-2x3.safetensors")),
  );
  for (const [i, c] of cases.entries()) await writeFile(join(dir, fileName(i, c.name)), c.bytes);
  reference = await runChecker<Record<string, string | null>>(code, ["judge", dir], 120_000);
}, 180_000);
afterAll(async () => {
  await cleanup?.();
});

const fileName = (i: number, name: string) => `m${String(i).padStart(3, "0")}-${name}.safetensors`;

async function modelshipVerdict(file: string): Promise<string | null> {
  const report = await validateModel(join(dir, file), { policy: { smokeRun: false } });
  const errors = report.findings.filter((f) => f.severity === "error");
  return report.accepted ? null : errors.map((f) => f.code).join(",");
}

describe("safetensors against safe_open", () => {
  it("accepts every file the library's writers produce", async () => {
    expect(written.length).toBeGreaterThan(90);
    const refused: string[] = [];
    for (const name of written) {
      expect(reference[name], `${name}: safe_open`).toBeNull();
      if ((await modelshipVerdict(name)) !== null) refused.push(name);
    }
    expect(refused).toEqual([]);
  });

  it("agrees with safe_open on every mutation, except the listed disagreements", async () => {
    expect(cases.length).toBeGreaterThan(300);
    const disagreements: Record<string, string> = {};
    let accepted = 0;
    for (const [i, c] of cases.entries()) {
      const file = fileName(i, c.name);
      const theirs = reference[file];
      expect(theirs, `${file} judged by safe_open`).not.toBeUndefined();
      if (theirs === null) accepted++;
      const ours = await modelshipVerdict(file);
      if ((theirs === null) !== (ours === null)) {
        disagreements[c.name] =
          `safe_open ${theirs === null ? "accepts" : `refuses (${theirs})`}, modelship ${ours === null ? "accepts" : `refuses (${ours})`}`;
      }
    }
    // Both verdicts occur often enough for the comparison to mean something.
    expect(accepted).toBeGreaterThan(60);
    expect(cases.length - accepted).toBeGreaterThan(200);
    expect(Object.keys(disagreements).sort()).toEqual(Object.keys(EXPECTED_DISAGREEMENTS).sort());
  });
});
