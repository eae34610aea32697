// NumPy .npy/.npz files and plain zips of pickles: recognised, and what a loader would read inside them is
// checked (object arrays are pickles that np.load(allow_pickle=True) runs). Hand-built bytes, no Python.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parsePythonLiteral } from "../../src/model/npy.js";
import { validateModel } from "../../src/model/validate.js";
import { bytes, op, osSystem, type Part, pickle, torchStateDict } from "../fixtures/model/pickles.js";
import { torchZip, zip } from "../fixtures/model/zip.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-numpy-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** np.save's layout: magic, version 1.0, a header padded with spaces to a multiple of 64, then the data. */
function npy(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const unpadded = 10 + header.length + 1;
  const text = `${header}${" ".repeat((64 - (unpadded % 64)) % 64)}\n`;
  return bytes([0x93], "NUMPY", [1, 0, text.length & 0xff, text.length >> 8], text, data);
}
const int64s = (shape: string, n: number) =>
  npy(`{'descr': '<i8', 'fortran_order': False, 'shape': ${shape}, }`, new Uint8Array(8 * n));

/** What np.save pickles for an object array: numpy's own reconstructor, then the array's state. */
function objectArrayPickle(extra: Part[] = []): Uint8Array {
  return pickle(
    op.proto(3),
    op.global("numpy.core.multiarray", "_reconstruct"),
    op.global("numpy", "ndarray"),
    op.binint1(0),
    op.tuple1,
    op.shortBinbytes([0x62]),
    op.tuple3,
    op.reduce,
    op.mark,
    op.binint1(1),
    op.binint1(1),
    op.tuple1,
    op.global("numpy", "dtype"),
    op.shortBinunicode("O8"),
    op.newfalse,
    [0x88],
    op.tuple3,
    op.reduce,
    op.newfalse,
    op.emptyList,
    ...extra,
    op.tuple,
    op.build,
    op.stop,
  );
}
const objectNpy = (payload: Uint8Array, descr = "'|O'") =>
  npy(`{'descr': ${descr}, 'fortran_order': False, 'shape': (1,), }`, payload);

async function check(name: string, data: Uint8Array, strict = false) {
  await writeFile(join(dir, name), data);
  return validateModel(join(dir, name), { policy: { pickle: strict ? "strict" : "warn", smokeRun: false } });
}
const codes = (r: Awaited<ReturnType<typeof check>>, severity = "error") =>
  r.findings.filter((f) => f.severity === severity).map((f) => f.code);

describe(".npy", () => {
  it("accepts a plain array and calls it numpy", async () => {
    const report = await check("weights.npy", int64s("(2, 3)", 6), true);
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("numpy");
    expect(report.findings).toEqual([]);
  });

  it("rejects an array whose data is shorter than its shape", async () => {
    const report = await check("weights.npy", int64s("(2, 3)", 5));
    expect(codes(report)).toEqual(["NUMPY_INVALID"]);
    expect(report.findings[0]?.message).toContain("48 data bytes");
  });

  it.each([
    ["a header that is not a dict", "['descr']"],
    ["a header with another key", "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), 'x': 1}"],
    ["a dtype numpy does not write", "{'descr': '<i3', 'fortran_order': False, 'shape': (1,), }"],
    ["a negative dimension", "{'descr': '<i8', 'fortran_order': False, 'shape': (-1,), }"],
  ])("rejects %s", async (_n, header) => {
    expect(codes(await check("weights.npy", npy(header, new Uint8Array(8))))).toEqual(["NUMPY_INVALID"]);
  });

  it.each([
    ["sub-array dims multiplying past 2**53", `[('a', '<f8', (${"9007199254740991, ".repeat(20)}))]`],
    ["a sub-array dim past 2**53", "[('a', '<f8', (99999999999999999999,))]"],
    ["a negative sub-array shape", "[('a', '<f8', -5)]"],
    ["a negative sub-array dim", "[('a', '<f8', (2, -3))]"],
    ["a string length past 2**53", `'|S${"9".repeat(400)}'`],
    ["a unicode length past 2**53", `'<U${"9".repeat(400)}'`],
  ])("rejects a dtype with %s as NUMPY_INVALID, in a file and in an .npz", async (_n, descr) => {
    const array = npy(`{'descr': ${descr}, 'fortran_order': False, 'shape': (1,), }`, new Uint8Array(40));
    expect(codes(await check("weights.npy", array), "warning")).toEqual([]);
    expect(codes(await check("weights.npy", array))).toEqual(["NUMPY_INVALID"]);
    expect(codes(await check("arrays.npz", zip([{ name: "a.npy", data: array }])))).toEqual([
      "NUMPY_INVALID",
    ]);
  });

  it.each([
    // numpy 2.4: "data type '|S2147483648' not understood", "dimension does not fit into a C int", and a
    // structured itemsize it wraps to -2147483648.
    ["'|S2147483648'"],
    ["'<U536870912'"],
    ["[('a', '<f8', (0, 2147483648))]"],
    ["[('a', '<f8', (134217728,)), ('b', '<f8', (134217728,))]"],
  ])("rejects %s, a dtype numpy cannot hold in a C int, even for an empty array", async (descr) => {
    const array = npy(`{'descr': ${descr}, 'fortran_order': False, 'shape': (0,), }`);
    expect(codes(await check("weights.npy", array))).toEqual(["NUMPY_INVALID"]);
  });

  it("accepts the largest dtypes numpy holds, for an empty array", async () => {
    for (const descr of [
      "'|S2147483647'",
      "'<U536870911'",
      "[('a', '<f8', (134217727,)), ('b', '<f8', (134217728,))]",
    ]) {
      const array = npy(`{'descr': ${descr}, 'fortran_order': False, 'shape': (0,), }`);
      expect((await check("weights.npy", array, true)).findings).toEqual([]);
    }
  });

  it("walks an object array's pickle: numpy's own globals pass, with a warning that allow_pickle runs it", async () => {
    const report = await check("objects.npy", objectNpy(objectArrayPickle([op.shortBinunicode("a")])), true);
    expect(report.accepted).toBe(true);
    expect(codes(report, "warning")).toEqual(["NUMPY_OBJECT_ARRAY"]);
    expect(report.artifacts[0]?.pickle?.globals).toContain("numpy.core.multiarray._reconstruct");
  });

  it("rejects an object array whose pickle runs a command, also inside a structured dtype", async () => {
    for (const descr of ["'|O'", "[('a', '<i4'), ('b', '|O')]"]) {
      const report = await check("objects.npy", objectNpy(osSystem(), descr));
      expect(codes(report)).toContain("PICKLE_GLOBAL_DANGEROUS");
    }
  });

  it("walks a pickle named .npy, which np.load(allow_pickle=True) falls back to", async () => {
    const report = await check("weights.npy", osSystem());
    expect(codes(report)).toEqual(expect.arrayContaining(["FORMAT_MISMATCH", "PICKLE_GLOBAL_DANGEROUS"]));
  });
});

describe(".npz and zips of pickles", () => {
  it("accepts np.savez's archive of plain arrays", async () => {
    const archive = zip([
      { name: "a.npy", data: int64s("(3,)", 3) },
      { name: "b.npy", data: int64s("()", 1) },
    ]);
    const report = await check("arrays.npz", archive, true);
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("numpy");
  });

  it("rejects an .npz whose object array runs a command", async () => {
    const archive = zip([
      { name: "a.npy", data: int64s("(3,)", 3) },
      { name: "b.npy", data: objectNpy(osSystem()) },
    ]);
    expect(codes(await check("arrays.npz", archive))).toContain("PICKLE_GLOBAL_DANGEROUS");
  });

  it("accepts a zip of harmless pickles beside a readme, and calls it pickle", async () => {
    const archive = zip([
      { name: "readme.txt", data: "hello" },
      { name: "model.pkl", data: pickle(op.proto(4), op.emptyList, op.stop) },
      { name: "model.bin", data: pickle(op.proto(4), op.binint1(42), op.stop) },
    ]);
    const report = await check("bundle.zip", archive, true);
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("pickle");
  });

  it("finds a pickle by its PROTO start whatever the member is called", async () => {
    const archive = zip([{ name: "data.txt", data: osSystem() }]);
    expect(codes(await check("bundle.zip", archive))).toContain("PICKLE_GLOBAL_DANGEROUS");
  });

  it("rejects a zip whose harmless pickle sits beside a nested checkpoint it cannot see into", async () => {
    const archive = zip([
      { name: "model.pkl", data: pickle(op.proto(4), op.emptyList, op.stop) },
      { name: "inner/model.pt", data: torchZip(torchStateDict()) },
    ]);
    expect(codes(await check("bundle.zip", archive))).toEqual(["ZIP_MEMBER_UNCHECKED"]);
  });

  it("still reads torch checkpoints by data.pkl only, leaving raw storages alone", async () => {
    const report = await check(
      "model.pt",
      torchZip(torchStateDict(), [{ name: "archive/data/1", data: osSystem() }]),
    );
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("pytorch");
  });
});

describe("parsePythonLiteral", () => {
  it("reads what np.save writes, trailing comma and Python 2 longs included", () => {
    const header = parsePythonLiteral("{'descr': '<f8', 'fortran_order': False, 'shape': (3L, 4), }   ");
    expect(header).toBeInstanceOf(Map);
    const map = header as Map<string, unknown>;
    expect(map.get("descr")).toBe("<f8");
    expect(map.get("fortran_order")).toBe(false);
    expect(map.get("shape")).toEqual({ tuple: [3, 4] });
    expect(parsePythonLiteral("(5,)")).toEqual({ tuple: [5] });
    expect(parsePythonLiteral("(5)")).toBe(5);
  });

  it.each(["{'a': 1", "{1: 2}", "__import__('os')", "{'a': 1} x"])("refuses %s", (text) => {
    expect(() => parsePythonLiteral(text)).toThrow(/not a Python literal/);
  });
});
