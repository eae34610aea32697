import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import { walkPickle } from "../../src/model/pickle.js";
import { judgeGlobal } from "../../src/model/pickle-policy.js";
import { DEFAULT_POLICY } from "../../src/model/policy.js";
import { validateModel } from "../../src/model/validate.js";
import {
  dtypeOps,
  joblibArrays,
  logisticRegression,
  objectArray,
  Stream,
  WRAPPER,
  wrappedArray,
} from "../fixtures/model/joblib.js";
import { op, osSystem, pickle } from "../fixtures/model/pickles.js";

const walk = (b: Uint8Array, joblib = true) => walkPickle(ByteReader.ofBytes(b), { joblib });
const names = (w: Awaited<ReturnType<typeof walk>>) => w.globals.map((g) => `${g.module}.${g.name}`);

const reconstructed = pickle(
  op.proto(2),
  op.global("numpy.core.multiarray", "_reconstruct"),
  op.global("numpy", "ndarray"),
  op.binint1(0),
  op.tuple1,
  op.shortBinbytes([0x62]),
  op.tuple3,
  op.reduce,
  op.stop,
);

describe("joblib inline numpy arrays", () => {
  it("skips aligned float64, int64 and float32 arrays and reports their layout", async () => {
    const w = await walk(
      joblibArrays({ dtype: "f8", shape: [2, 3] }, { dtype: "i8", shape: [5] }, { dtype: "f4", shape: [] }),
    );
    expect(w.error).toBeUndefined();
    expect(w.trailingBytes).toBe(0);
    expect(w.pickles).toBe(1);
    expect(w.joblibArrays?.map((a) => [a.dtype, a.shape, a.bytes, a.byteOrder])).toEqual([
      ["f8", [2, 3], 48, "<"],
      ["i8", [5], 40, "<"],
      ["f4", [], 4, "<"],
    ]);
    // joblib aligns each array's data to 16 bytes in the file.
    for (const a of w.joblibArrays ?? []) expect(a.dataOffset % 16).toBe(0);
    expect(names(w)).toEqual([`${WRAPPER.module}.${WRAPPER.name}`, "numpy.ndarray", "numpy.dtype"]);
  });

  it("accepts a padding of a full 16 bytes, which joblib writes when the data is already aligned", async () => {
    // Find a prefix length that makes joblib's computed padding 16.
    for (let extra = 0; extra < 16; extra++) {
      const s = new Stream().add(op.proto(4), op.emptyList, op.mark);
      for (let i = 0; i < extra; i++) s.add(op.none, op.pop);
      const probe = new Stream().add(s.bytes());
      wrappedArray(probe, { data: new Uint8Array(0), shape: [0] });
      const padAt = probe.length - 17;
      if ((padAt + 1) % 16 !== 0) continue;
      wrappedArray(s, { shape: [0] });
      const w = await walk(s.add(op.appends, op.stop).bytes());
      expect(w.error).toBeUndefined();
      return;
    }
    throw new Error("no prefix gives a 16-byte padding");
  });

  it("skips unaligned arrays written by joblib < 1.2 when pickle.load would stop at their first byte", async () => {
    const w = await walk(
      joblibArrays({ aligned: false, shape: [3] }, { aligned: false, dtype: "i8", shape: [0] }),
    );
    expect(w.error).toBeUndefined();
    expect(w.joblibArrays).toHaveLength(2);
  });

  it("accepts a fitted LogisticRegression with its wrapped arrays and judges every global safe", async () => {
    const w = await walk(logisticRegression());
    expect(w.error).toBeUndefined();
    expect(w.joblibArrays).toHaveLength(4);
    for (const g of w.globals) expect(judgeGlobal(g.module, g.name).verdict).toBe("safe");
    expect(names(w)).toContain("sklearn.linear_model._logistic.LogisticRegression");
  });

  it("follows a wrapper built by calling the class, whose __init__ defaults to 16-byte alignment", async () => {
    const s = new Stream().add(
      op.proto(2),
      op.global(WRAPPER.module, WRAPPER.name),
      op.mark,
      op.global("numpy", "ndarray"),
      op.binint1(3),
      op.tuple1,
      op.shortBinunicode("C"),
      ...dtypeOps("i8"),
      op.tuple,
      op.reduce,
      op.emptyDict,
      op.build,
    );
    const pad = 16 - ((s.length + 1) % 16);
    s.add([pad], new Array(pad).fill(0xff), new Uint8Array(24), op.stop);
    const w = await walk(s.bytes());
    expect(w.error).toBeUndefined();
    expect(w.joblibArrays?.[0]).toMatchObject({ dtype: "i8", shape: [3], bytes: 24 });
    // Too few constructor arguments: Python raises, so the layout after it is unknown.
    const short = pickle(
      op.proto(2),
      op.global(WRAPPER.module, WRAPPER.name),
      op.emptyTuple,
      op.reduce,
      op.emptyDict,
      op.build,
      op.stop,
    );
    expect((await walk(short)).error?.message).toMatch(/constructor arguments/);
  });

  it("follows protocol 0 and 1 wrappers: copy_reg._reconstructor and INT 01 for True", async () => {
    const s = new Stream().add(
      op.global("copy_reg", "_reconstructor"),
      op.mark,
      op.global(WRAPPER.module, WRAPPER.name),
      op.global("__builtin__", "object"),
      op.none,
      op.tuple,
      op.reduce,
      op.mark,
      op.string("shape"),
      op.mark,
      [0x49],
      "7\n",
      op.tuple,
      op.string("order"),
      op.string("C"),
      op.string("subclass"),
      op.global("numpy", "ndarray"),
      op.string("allow_mmap"),
      [0x49],
      "01\n",
      op.string("numpy_array_alignment_bytes"),
      [0x49],
      "16\n",
      op.string("dtype"),
      ...dtypeOps("f4"),
      [0x64], // DICT
      op.build,
    );
    const pad = 16 - ((s.length + 1) % 16);
    s.add([pad], new Array(pad).fill(0xff), new Uint8Array(28), op.stop);
    const w = await walk(s.bytes());
    expect(w.error).toBeUndefined();
    expect(w.joblibArrays?.[0]).toMatchObject({ dtype: "f4", shape: [7], bytes: 28 });
  });

  it("accepts the wrapper vendored in sklearn.externals.joblib", async () => {
    const w = await walk(joblibArrays({ module: "sklearn.externals.joblib.numpy_pickle" }));
    expect(w.error).toBeUndefined();
    expect(judgeGlobal("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper").verdict).toBe("safe");
  });

  it("walks an object array's nested pickle and judges its globals", async () => {
    const w = await walk(objectArray(reconstructed));
    expect(w.error).toBeUndefined();
    expect(names(w)).toContain("numpy.core.multiarray._reconstruct");
    const evil = await walk(
      objectArray(
        pickle(op.proto(2), op.global("os", "system"), op.string("id"), op.tuple1, op.reduce, op.stop),
      ),
    );
    expect(names(evil)).toContain("os.system");
    expect(judgeGlobal("os", "system").verdict).toBe("dangerous");
  });

  it("keeps plain pickle semantics outside joblib files (zip members, legacy torch)", async () => {
    const w = await walk(joblibArrays({ shape: [2] }), false);
    expect(w.error).toBeDefined();
  });
});

describe("hostile joblib streams stay rejected", () => {
  const rejects = async (b: Uint8Array, message: RegExp) => {
    const w = await walk(b);
    expect(w.error?.message).toMatch(message);
    expect(w.error?.offset).toBeGreaterThanOrEqual(0);
    expect(w.error?.offset).toBeLessThanOrEqual(b.length);
    return w;
  };

  it("rejects a shape whose byte size runs past the end of the file", async () => {
    await rejects(
      joblibArrays({ shape: [1000, 1000], data: new Uint8Array(64) }),
      /exceeds the \d+ bytes left/,
    );
  });

  it("rejects negative and huge dimensions", async () => {
    await rejects(joblibArrays({ shape: [-1, 4], data: new Uint8Array(0) }), /dimension -1/);
    await rejects(joblibArrays({ shape: [2n ** 62n, 0], data: new Uint8Array(0) }), /dimension/);
    await rejects(joblibArrays({ shape: [2n ** 40n, 2n ** 40n], data: new Uint8Array(0) }), /exceeds/);
  });

  it("rejects an unknown dtype", async () => {
    await rejects(joblibArrays({ dtype: "V7", data: new Uint8Array(0) }), /dtype "V7"/);
  });

  it("rejects a dtype whose state says it holds objects behind a numeric type string", async () => {
    // numpy takes the hasobject flag from the state: joblib would read a nested pickle, not 48 raw bytes.
    await rejects(joblibArrays({ dtype: "f8", dtypeFlags: 63 }), /dtype "f8" carries state/);
  });

  it("rejects a wrapper with no shape or no dtype", async () => {
    await rejects(joblibArrays({ omit: ["shape"] }), /no shape/);
    await rejects(joblibArrays({ omit: ["dtype"] }), /no dtype/);
  });

  it("rejects a padding length joblib never writes", async () => {
    await rejects(joblibArrays({ paddingByte: 200 }), /padding/);
    await rejects(joblibArrays({ paddingByte: 17 }), /padding/);
    // Zero padding would hand the array bytes to a plain pickle.load as opcodes.
    await rejects(joblibArrays({ paddingByte: 0 }), /padding/);
  });

  it("rejects unaligned data that a plain pickle.load would run as opcodes", async () => {
    const data = pickle(op.global("os", "system"), op.string("id"), op.tuple1, op.reduce, op.stop);
    await rejects(joblibArrays({ aligned: false, dtype: "u1", shape: [data.length], data }), /opcode/);
  });

  it("rejects a wrapper whose BUILD sits inside a frame that goes on past it", async () => {
    const body = new Stream();
    wrappedArray(body, { shape: [2] });
    const b = body.bytes();
    const framed = pickle(op.proto(4), op.frame(b.length + 2), b, op.stop);
    await rejects(framed, /frame/);
  });

  it("rejects the wrapper class reaching an instance through a path the walker cannot follow", async () => {
    // tuple([NumpyArrayWrapper, object, None]) hides the class from a walker that only follows tuples; a
    // copyreg._reconstructor call on the result would make an instance whose BUILD joblib reads bytes after.
    const s = pickle(
      op.proto(4),
      op.global("builtins", "tuple"),
      op.emptyList,
      op.mark,
      op.shortBinunicode(WRAPPER.module),
      op.shortBinunicode(WRAPPER.name),
      op.stackGlobal,
      op.global("builtins", "object"),
      op.none,
      op.appends,
      op.tuple1,
      op.reduce,
      op.stop,
    );
    await rejects(s, /NumpyArrayWrapper/);
    // Through a tracked tuple into copyreg._reconstructor, the instance is seen and its bytes skipped.
    const seen = new Stream().add(
      op.proto(2),
      op.global("copyreg", "_reconstructor"),
      op.global(WRAPPER.module, WRAPPER.name),
      op.global("builtins", "object"),
      op.none,
      op.tuple3,
      op.reduce,
      op.emptyDict,
      op.mark,
      op.shortBinunicode("shape"),
      op.binint1(4),
      op.tuple1,
      op.shortBinunicode("order"),
      op.shortBinunicode("C"),
      op.shortBinunicode("subclass"),
      op.global("numpy", "ndarray"),
      op.shortBinunicode("dtype"),
    );
    seen.add(...dtypeOps("f8"), op.setitems, op.build, new Uint8Array(32), op.stop);
    const w = await walk(seen.bytes());
    expect(w.error).toBeUndefined();
    expect(w.joblibArrays?.[0]).toMatchObject({ shape: [4], bytes: 32 });
  });

  it("still rejects dangerous globals hidden in a joblib file", async () => {
    const w = await walk(
      logisticRegression([
        op.shortBinunicode("hook"),
        op.global("os", "system"),
        op.string("id"),
        op.tuple1,
        op.reduce,
      ]),
    );
    expect(names(w)).toContain("os.system");
    // A global placed after the array bytes is still found: the walk resumes exactly where joblib does.
    const after = new Stream().add(op.proto(4), op.emptyList, op.mark);
    wrappedArray(after, {});
    after.add(op.global("subprocess", "Popen"), op.appends, op.stop);
    const w2 = await walk(after.bytes());
    expect(w2.error).toBeUndefined();
    expect(names(w2)).toContain("subprocess.Popen");
    expect(judgeGlobal("subprocess", "Popen").verdict).toBe("dangerous");
  });

  it("never throws or hangs on mutated joblib streams", async () => {
    const seeds = [
      logisticRegression(),
      joblibArrays({ shape: [3] }, { aligned: false }),
      objectArray(reconstructed),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...seeds),
        fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { minLength: 1, maxLength: 8 }),
        async (seed, edits) => {
          const b = Uint8Array.from(seed);
          for (const e of edits) b[e.at % b.length] = e.byte;
          const w = await walk(b);
          if (w.error) expect(w.error.offset).toBeLessThanOrEqual(b.length);
        },
      ),
      { numRuns: 400 },
    );
  });
});

describe("validateModel on joblib files (the whole-file view reads arrays as joblib.load does)", () => {
  it("accepts a LogisticRegression saved with joblib.dump, and still rejects one carrying os.system", async () => {
    const dir = await mkdtemp(join(tmpdir(), "modelship-joblib-"));
    try {
      await writeFile(join(dir, "model.joblib"), logisticRegression());
      const report = await validateModel(dir, { policy: { ...DEFAULT_POLICY, smokeRun: false } });
      expect(report.findings.filter((f) => f.severity === "error")).toEqual([]);
      expect(report).toMatchObject({ accepted: true, format: "pickle" });

      await writeFile(join(dir, "model.joblib"), osSystem());
      const evil = await validateModel(dir, { policy: { ...DEFAULT_POLICY, smokeRun: false } });
      expect(evil.accepted).toBe(false);
      expect(evil.findings.map((f) => f.code)).toContain("PICKLE_GLOBAL_DANGEROUS");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
