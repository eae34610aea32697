// modelship's static ONNX verdicts against onnx 1.23.2's checker (check_model on the path, as a
// loader sees it), on a corpus made at test time: models from onnx.helper / numpy_helper carrying
// tensors of every data type, and systematic mutations of them (onnx-mutations.ts). The smoke run
// is off: it is what ONNX Runtime says, not what the checker says, and it is tested on its own.
// Two Python processes in all: one writes the bases, one judges every case.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import { runChecker } from "../support/checkers.js";
import { mutations, type OnnxCase } from "./onnx-mutations.js";
import { scratchDir } from "./support.js";

/**
 * Cases where modelship's verdict differs from check_model's on purpose, with the reason. The test
 * fails on any other disagreement, and on an entry here that no longer disagrees.
 */
const EXPECTED_DISAGREEMENTS: Record<string, string> = {};

/** Cases only check_model(full_check=True) refuses; modelship accepts them, with check_model. */
const FULL_CHECK_ONLY: Record<string, string> = {
  "name-same-as-input": "an initializer X [2,3] beside a graph input X [1,2]: shapes differ (inference)",
  "ssa-input-and-initializer": "the same, reached by renaming the initializer",
  "if-branch~dims-drop": "an If branch output whose inferred shape no longer matches (inference)",
};

const script = join(import.meta.dirname, "onnx_reference.py");

let dir: string;
let cleanup: () => Promise<void>;
let written: string[];
let cases: OnnxCase[];
let reference: Record<string, [string | null, string | null]>;

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir("modelship-diff-onnx-"));
  const code = await readFile(script, "utf8");
  const basesDir = join(dir, "bases");
  await mkdir(basesDir);
  written = await runChecker<string[]>(code, ["write", basesDir]);
  const bases = new Map<string, { model: Uint8Array; files?: Record<string, Uint8Array> }>();
  for (const name of written) {
    const files: Record<string, Uint8Array> = {};
    for (const file of await readdir(join(basesDir, name))) {
      if (file !== "model.onnx") files[file] = await readFile(join(basesDir, name, file));
    }
    const model = await readFile(join(basesDir, name, "model.onnx"));
    bases.set(name, Object.keys(files).length ? { model, files } : { model });
  }
  cases = mutations(bases);
  const casesDir = join(dir, "cases");
  await mkdir(casesDir);
  for (const c of cases) {
    await mkdir(join(casesDir, c.name));
    await writeFile(join(casesDir, c.name, "model.onnx"), c.model);
    for (const [file, data] of Object.entries(c.files ?? {}))
      await writeFile(join(casesDir, c.name, file), data);
  }
  reference = {
    ...(await runChecker<typeof reference>(code, ["judge", basesDir], 120_000)),
    ...(await runChecker<typeof reference>(code, ["judge", casesDir], 120_000)),
  };
}, 240_000);
afterAll(async () => {
  await cleanup?.();
});

async function modelshipVerdict(caseDir: string): Promise<string | null> {
  const report = await validateModel(caseDir, { policy: { smokeRun: false } });
  return report.accepted
    ? null
    : report.findings
        .filter((f) => f.severity === "error")
        .map((f) => f.code)
        .join(",");
}

describe("ONNX against onnx.checker.check_model", () => {
  it("accepts every model onnx's writers produce", async () => {
    expect(written.length).toBeGreaterThan(200);
    const refused: Record<string, string> = {};
    for (const name of written) {
      expect(reference[name]?.[0], `${name}: check_model`).toBeNull();
      const ours = await modelshipVerdict(join(dir, "bases", name));
      if (ours !== null) refused[name] = ours;
    }
    expect(refused).toEqual({});
  });

  it("agrees with check_model on every mutation, except the listed disagreements", async () => {
    expect(cases.length).toBeGreaterThan(900);
    const disagreements: Record<string, string> = {};
    let accepted = 0;
    for (const c of cases) {
      const verdict = reference[c.name];
      expect(verdict, `${c.name} judged by check_model`).toBeDefined();
      const theirs = verdict?.[0] ?? null;
      if (theirs === null) accepted++;
      const ours = await modelshipVerdict(join(dir, "cases", c.name));
      if ((theirs === null) !== (ours === null)) {
        disagreements[c.name] =
          `check_model ${theirs === null ? "accepts" : `refuses (${theirs})`}, modelship ${ours === null ? "accepts" : `refuses (${ours})`}`;
      }
    }
    // check_model(full_check=True) also runs shape inference, which modelship does not do statically.
    const fullOnly = cases.filter((c) => reference[c.name]?.[0] === null && reference[c.name]?.[1] !== null);
    expect(fullOnly.map((c) => c.name).sort()).toEqual(Object.keys(FULL_CHECK_ONLY).sort());
    expect(accepted).toBeGreaterThan(150);
    expect(cases.length - accepted).toBeGreaterThan(500);
    expect(disagreements).toEqual(
      Object.fromEntries(
        Object.keys(EXPECTED_DISAGREEMENTS).map((k) => [k, disagreements[k] ?? "(agrees now)"]),
      ),
    );
  });
});
