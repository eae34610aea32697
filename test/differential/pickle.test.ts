// modelship's pickle-family verdicts against what CPython does and what the peer scanners say, on a
// corpus made at test time by pickle_reference.py: CPython's own pickler across protocols 0-5 (plain and
// pickletools.optimize'd), objects whose __reduce__ runs commands, np.save / np.savez files, zipfiles, and
// mutations of valid pickles (straddling frames, DUP and memo bombs, misplaced PROTO, unhashable cycles,
// materialising calls, truncations). Two Python processes in all: one writes, one judges every file.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validateModel } from "../../src/model/validate.js";
import { runChecker } from "../support/checkers.js";
import { scratchDir } from "./support.js";

interface Load {
  ok: boolean;
  error?: string;
  /** [module, name] of every find_class call, in order. */
  imports: [string, string][];
}
interface Judged {
  /** The C unpickler reading a file that cannot peek (torch.load; np.load's for .npy/.npz). */
  c: Load;
  /** The C unpickler reading a whole buffer (pickle.loads). */
  c_buffer?: Load;
  /** pickle._Unpickler, the pure-Python one (pickles only). */
  py?: Load;
  picklescan: string;
  fickling?: string;
  modelscan: string;
}
type Peer = "picklescan" | "fickling" | "modelscan";

// Families pickle_reference.py writes, by what a validator must say of them.
const ACCEPT = new Set(["benign", "benign-shape", "reframed", "npy", "npz", "zip"]);
const REJECT = new Set([
  "malicious",
  "straddle",
  "loader",
  "truncated",
  "npy-malicious",
  "npy-invalid",
  "npz-malicious",
  "zip-malicious",
]);

/**
 * Where a peer's verdict differs from modelship's on purpose, with the reason (docs/validation.md lists the
 * same). `theirs`: the peer's verdict; `verdict` narrows by its wording. The test fails on a disagreement no
 * entry covers, and on an entry that no longer covers any.
 */
const EXPECTED_DISAGREEMENTS: {
  peer: Peer;
  files: RegExp;
  theirs: "accept" | "reject";
  verdict?: RegExp;
  reason: string;
}[] = [
  {
    peer: "fickling",
    files: /^(benign|optimized|reframed)-/,
    theirs: "reject",
    verdict: /^reject$/,
    reason:
      "fickling's heuristics refuse CPython's own output for plain objects: memoized values it calls unused variables, numpy/collections/datetime imports it calls non-standard, set([...]) and _reconstruct(...) it calls bad evals",
  },
  {
    peer: "fickling",
    files: /^(benign|optimized)-/,
    theirs: "reject",
    verdict: /NotImplementedError/,
    reason: "fickling 0.1.12 cannot read some valid opcodes (FLOAT, BYTEARRAY8, …) and gives up",
  },
  {
    peer: "fickling",
    files: /^(memo-index-huge|memo-laughs-[69]|unhashable-list-key)\.pkl$/,
    theirs: "accept",
    reason:
      "fickling does not check memo indexes (LONG_BINPUT 2**32-1 makes the C unpickler ask for a 2**33-entry table), counts GET/PUT ratios where a nesting of ten GETs per level stays at 10:1, and only flags a dict or set that holds itself, not a list as a key",
  },
  {
    peer: "fickling",
    files: /^straddle-(nested-|divergence)/,
    theirs: "accept",
    reason:
      "the pinned fickling 0.1.12 has no frame-boundary check (its test suite's straddle samples come from a later commit), so it passes the divergence that torch.load reads as os.system; it refuses the other straddled files only for its numpy and os heuristics",
  },
  {
    peer: "picklescan",
    files: /^(dup-|materialise-|memo-|proto-|unhashable-)/,
    theirs: "accept",
    reason: "picklescan judges imports only: loader attacks without a dangerous global pass it",
  },
  {
    peer: "modelscan",
    files: /^(dup-|materialise-|memo-|proto-|unhashable-)/,
    theirs: "accept",
    reason: "modelscan judges imports only: loader attacks without a dangerous global pass it",
  },
  {
    peer: "picklescan",
    files: /^malicious-(fickling-off|picklescan-call|import-module|scanner-)/,
    theirs: "accept",
    reason:
      "picklescan's deny list has no scanner modules (fickling, picklescan, modelscan, modelaudit, model_unpickler, saferpickle) and no importlib",
  },
  {
    peer: "modelscan",
    files: /^malicious-(fickling-off|picklescan-call|import-module|scanner-|uuid-command)/,
    theirs: "accept",
    reason: "modelscan's deny list has no scanner modules, no importlib and no uuid",
  },
  {
    peer: "modelscan",
    files: /^malicious-(popen|check-output)-p[012]\.pkl$/,
    theirs: "accept",
    reason:
      "CPython writes subprocess as its Python 2 name commands under protocols 0-2, which the C unpickler maps back; modelscan does not map it",
  },
  {
    peer: "picklescan",
    files: /^straddle-(nested-|divergence)/,
    theirs: "accept",
    reason:
      "picklescan reads straight across frames as pickle.loads does and judges imports only: it passes the divergence that torch.load reads as os.system (the bypass itself), and straddles without a bad global",
  },
  {
    peer: "modelscan",
    files: /^straddle-(nested-|divergence)/,
    theirs: "accept",
    reason:
      "modelscan reads straight across frames as pickle.loads does and judges imports only: it passes the divergence that torch.load reads as os.system (the bypass itself), and straddles without a bad global",
  },
  {
    peer: "picklescan",
    files: /^(truncated-|npy-truncated)/,
    theirs: "accept",
    reason:
      "picklescan reports the imports it read before a pickle ends early, and reads only an .npy's header; np.load and pickle.load fail on these",
  },
  {
    peer: "picklescan",
    files: /^(benign|optimized)-uuid-/,
    theirs: "reject",
    reason:
      "picklescan refuses all of uuid; a UUID is data, and only uuid's command helpers are dangerous here",
  },
  {
    peer: "picklescan",
    files: /^reframed-state-/,
    theirs: "reject",
    reason:
      "in well-formed streams cut into small frames picklescan loses the memoized strings STACK_GLOBAL takes, and reports 'unknown' globals as dangerous",
  },
  {
    peer: "modelscan",
    files: /^reframed-state-/,
    theirs: "reject",
    reason:
      "in well-formed streams cut into small frames modelscan loses the memoized strings STACK_GLOBAL takes, and reports 'unknown' globals as critical",
  },
  {
    peer: "modelscan",
    files: /^(npy-.*\.npy|npz-.*\.npz|zip-deflated\.zip)$/,
    theirs: "reject",
    reason:
      "modelscan 0.8.8 fails on every .npy with numpy 2 (numpy.lib.format has no _check_version) and reports the error",
  },
  {
    peer: "modelscan",
    files: /^zip-malicious-wrong-ext\.zip$/,
    theirs: "accept",
    reason:
      "modelscan picks zip members by extension and skips data.txt; its PROTO start shows it is a pickle",
  },
];

const script = join(import.meta.dirname, "pickle_reference.py");

let dir: string;
let cleanup: () => Promise<void>;
let files: { name: string; family: string }[];
let judged: Record<string, Judged>;
const ours = new Map<string, { accepted: boolean; strict: boolean; codes: string; globals: Set<string> }>();

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir("modelship-diff-pickle-"));
  const code = await readFile(script, "utf8");
  files = await runChecker<{ name: string; family: string }[]>(code, ["write", dir], 120_000);
  judged = await runChecker<Record<string, Judged>>(code, ["judge", dir], 180_000);
  for (const { name } of files) {
    const path = join(dir, name);
    const report = await validateModel(path, { policy: { smokeRun: false } });
    const strict = await validateModel(path, { policy: { smokeRun: false, pickle: "strict" } });
    const codes = [...new Set(report.findings.filter((f) => f.severity === "error").map((f) => f.code))];
    ours.set(name, {
      accepted: report.accepted,
      strict: strict.accepted,
      codes: codes.join(","),
      globals: new Set(report.artifacts.flatMap((a) => a.pickle?.globals ?? [])),
    });
  }
}, 300_000);
afterAll(async () => {
  await cleanup?.();
});

const verdict = (name: string) => (ours.get(name)?.accepted ? "accept" : `reject (${ours.get(name)?.codes})`);

describe("pickles against CPython's unpicklers", () => {
  it("makes a corpus worth comparing", () => {
    expect(files.length).toBeGreaterThan(500);
    for (const family of [...ACCEPT, ...REJECT])
      expect(
        files.some((f) => f.family === family),
        family,
      ).toBe(true);
    expect(files.every((f) => ACCEPT.has(f.family) || REJECT.has(f.family))).toBe(true);
  });

  it("reports every global the C unpickler imports, or rejects the file", () => {
    const hidden: string[] = [];
    for (const { name } of files) {
      const mine = ours.get(name);
      if (!mine?.accepted) continue;
      const { c, c_buffer } = judged[name] as Judged;
      for (const [module, global] of [...c.imports, ...(c_buffer?.imports ?? [])]) {
        if (!mine.globals.has(`${module}.${global}`)) hidden.push(`${name}: ${module}.${global}`);
      }
    }
    expect(hidden).toEqual([]);
  });

  it("rejects what the C unpickler fails on, and what CPython's three readings disagree on", () => {
    const accepted: string[] = [];
    const said = (l: Load | undefined) =>
      l === undefined ? "-" : l.ok ? `loads ${JSON.stringify(l.imports)}` : l.error;
    for (const { name } of files) {
      const { c, c_buffer, py } = judged[name] as Judged;
      const readings = [c, c_buffer, py].filter((l): l is Load => l !== undefined);
      const disagree = readings.some((l) => said(l) !== said(c));
      if ((!c.ok || disagree) && ours.get(name)?.accepted) {
        accepted.push(`${name}: file ${said(c)}, buffer ${said(c_buffer)}, pure Python ${said(py)}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  it("sees the straddles that make torch.load import what pickle.loads does not", () => {
    const diverging = files.filter(({ name }) => {
      const { c, c_buffer } = judged[name] as Judged;
      return c_buffer !== undefined && JSON.stringify(c.imports) !== JSON.stringify(c_buffer.imports);
    });
    expect(diverging.length).toBeGreaterThan(0);
    for (const { name } of diverging) expect(ours.get(name)?.codes, name).toContain("PICKLE_FRAME_STRADDLE");
  });

  it("accepts what CPython and NumPy write for plain objects, in default and strict mode", () => {
    const refused = files
      .filter((f) => ACCEPT.has(f.family))
      .filter((f) => !ours.get(f.name)?.accepted || !ours.get(f.name)?.strict)
      .map((f) => `${f.name}: ${verdict(f.name)}`);
    expect(refused).toEqual([]);
  });

  it("rejects every hostile or broken file", () => {
    const passed = files.filter((f) => REJECT.has(f.family) && ours.get(f.name)?.accepted).map((f) => f.name);
    expect(passed).toEqual([]);
  });
});

describe("pickles against the peer scanners", () => {
  it.each(["picklescan", "fickling", "modelscan"] as Peer[])(
    "agrees with %s except the listed disagreements",
    (peer) => {
      const unexplained: string[] = [];
      const used = new Set<number>();
      let compared = 0;
      for (const { name } of files) {
        const theirs = judged[name]?.[peer];
        if (theirs === undefined) continue;
        compared++;
        const theyAccept = theirs === "accept";
        if (theyAccept === ours.get(name)?.accepted) continue;
        const rule = EXPECTED_DISAGREEMENTS.findIndex(
          (d) =>
            d.peer === peer &&
            d.files.test(name) &&
            d.theirs === (theyAccept ? "accept" : "reject") &&
            (d.verdict?.test(theirs) ?? true),
        );
        if (rule < 0) unexplained.push(`${name}: ${peer} ${theirs}, modelship ${verdict(name)}`);
        else used.add(rule);
      }
      expect(compared).toBeGreaterThan(peer === "fickling" ? 400 : 500);
      expect(unexplained).toEqual([]);
      const stale = EXPECTED_DISAGREEMENTS.filter((d, i) => d.peer === peer && !used.has(i)).map(
        (d) => d.reason,
      );
      expect(stale).toEqual([]);
    },
  );
});
