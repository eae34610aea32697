// Pickles that attack the loader rather than import a global: opcodes straddling FRAME boundaries (the C
// and pure-Python unpicklers read them differently), misplaced PROTO, memo and DUP expansion, dicts and sets
// that cannot hold what they are given, calls that materialise more than the file holds. Each is rejected with its own
// finding, in default and strict mode; valid protocol 0 pickles with long text lines are not.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import { walkPickle } from "../../src/model/pickle.js";
import { validateModel } from "../../src/model/validate.js";
import { bytes, op, pickle } from "../fixtures/model/pickles.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-loader-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const frame = (n: number) => [0x95, ...u32(n), 0, 0, 0, 0];
const x = {
  dup: [0x32],
  append: [0x61],
  additems: [0x90],
  emptySet: [0x8f],
  list: [0x6c],
  binint: (n: number) => [0x4a, ...u32(n)],
  long1: (n: bigint) => {
    const out: number[] = [];
    let v = n;
    while (v > 0n) {
      out.push(Number(v & 0xffn));
      v >>= 8n;
    }
    if ((out.at(-1) ?? 0) & 0x80) out.push(0);
    return [0x8a, out.length, ...out];
  },
  unicode: (s: string) => bytes([0x56], `${s}\n`),
};

async function check(data: Uint8Array, strict = false, name = "model.pkl") {
  await writeFile(join(dir, name), data);
  return validateModel(join(dir, name), { policy: { pickle: strict ? "strict" : "warn", smokeRun: false } });
}
const codes = (r: Awaited<ReturnType<typeof check>>) =>
  r.findings.filter((f) => f.severity === "error").map((f) => f.code);

describe("FRAME: the stream is read linearly, and no opcode may cross a frame's end", () => {
  const straddles: [string, Uint8Array][] = [
    // fickling's test_frame_boundary_straddle_variants, rebuilt: each argument runs past its frame.
    ["BININT", pickle(op.proto(5), frame(2), x.binint(7), op.stop)],
    ["SHORT_BINUNICODE", pickle(op.proto(5), frame(3), op.shortBinunicode("A".repeat(20)), op.stop)],
    ["UNICODE line", pickle(op.proto(5), frame(5), x.unicode("hello world"), op.stop)],
    // Header inside the frame, payload after it: the pure-Python unpickler happens to accept this one.
    ["BINBYTES payload", pickle(op.proto(5), frame(5), op.binbytes(20), op.stop)],
    // The classic payload split over a frame end: C runs os.system, pickle._Unpickler refuses.
    ["GLOBAL os.system", pickle(op.proto(4), frame(7), op.global("os", "system"), op.stop)],
  ];

  it.each(straddles)(
    "an opcode straddling the frame end (%s) is rejected in default and strict mode",
    async (_n, data) => {
      for (const strict of [false, true]) {
        expect(codes(await check(data, strict))).toContain("PICKLE_FRAME_STRADDLE");
      }
    },
  );

  it("keeps judging the globals after a straddle, as the C unpickler reads on", async () => {
    const data = pickle(
      op.proto(4),
      frame(2),
      x.binint(7),
      op.pop,
      op.global("os", "system"),
      op.shortBinunicode("id"),
      op.tuple1,
      op.reduce,
      op.stop,
    );
    const report = await check(data);
    expect(codes(report)).toEqual(
      expect.arrayContaining(["PICKLE_FRAME_STRADDLE", "PICKLE_GLOBAL_DANGEROUS"]),
    );
  });

  it("rejects the straddle torch.load reads as os.system where pickle.loads reads bytes (fickling's divergence)", async () => {
    const command = pickle(
      op.global("os", "system"),
      op.mark,
      x.unicode("echo pwned"),
      op.tuple,
      op.reduce,
      op.stop,
    );
    const data = pickle(op.proto(4), frame(2), [0x42, command.length + 1, 0, 0, 0, 0], command, op.stop);
    for (const strict of [false, true]) {
      const report = await check(data, strict);
      expect(codes(report)).toContain("PICKLE_FRAME_STRADDLE");
      expect(report.findings.find((f) => f.code === "PICKLE_FRAME_STRADDLE")?.message).toContain(
        "torch.load",
      );
    }
  });

  it("rejects a FRAME that starts before the current frame ends", async () => {
    const data = pickle(op.proto(4), frame(12), op.none, frame(2), op.none, op.pop, op.stop);
    expect(codes(await check(data))).toContain("PICKLE_FRAME_STRADDLE");
  });

  it("accepts well-formed frames, a large payload between them, and an unframed tail", async () => {
    const data = pickle(
      op.proto(4),
      frame(3),
      op.emptyList,
      op.memoize,
      op.mark,
      op.binbytes(300), // outside any frame, as CPython writes payloads over its frame size
      frame(3),
      op.binint1(1),
      op.appends,
      op.stop,
    );
    const report = await check(data);
    expect(report.accepted).toBe(true);
  });
});

describe("a later pickle that breaks off keeps what it did before breaking off", () => {
  // pickle.load called a second time runs the second pickle's opcodes until the bad byte: what they did
  // (a straddling opcode, an extension code, a call of a non-global) happened, so it is no trailing data.
  const first = pickle(op.proto(4), op.none, op.stop);
  const junk = [0xff];
  const later: [string, Uint8Array, string][] = [
    [
      "a SHORT_BINUNICODE straddling its frame",
      pickle(op.proto(4), frame(4), [0x8c, 5], "AB", "CDE"),
      "PICKLE_FRAME_STRADDLE",
    ],
    ["an EXT1 extension code", pickle(op.proto(2), [0x82, 0x2a]), "PICKLE_EXTENSION_CODE"],
    [
      "a REDUCE of a call's result",
      pickle(
        op.proto(2),
        op.global("collections", "OrderedDict"),
        op.emptyTuple,
        op.reduce,
        op.shortBinunicode("id"),
        op.tuple1,
        op.reduce,
      ),
      "PICKLE_HAZARD",
    ],
  ];

  it.each(later)(
    "%s in the second pickle is rejected in default and strict mode",
    async (_n, second, code) => {
      const data = bytes(first, second, junk);
      for (const strict of [false, true]) {
        const report = await check(data, strict);
        expect(report.accepted).toBe(false);
        expect(codes(report)).toContain(code);
      }
    },
  );

  it("still takes a memo index on an empty stack after the last pickle as data (the C unpickler underflows first)", async () => {
    const data = bytes(first, [0x72, 0xff, 0xff, 0xff, 0x7f], junk);
    const report = await check(data, true);
    expect(report.accepted).toBe(true);
    expect(report.findings.map((f) => f.code)).toEqual(["PICKLE_TRAILING_DATA"]);
  });
});

describe("PROTO belongs at the start of a pickle, once", () => {
  it.each([
    ["repeated", pickle(op.proto(4), op.proto(4), op.none, op.stop)],
    ["misplaced", pickle(op.proto(4), op.emptyList, op.proto(1), op.proto(2), op.stop)],
    ["after a FRAME", pickle(frame(3), op.proto(4), op.none, op.stop)],
  ])("a %s PROTO is rejected", async (_n, data) => {
    expect(codes(await check(data))).toContain("PICKLE_PROTO_MISPLACED");
  });
});

describe("expansion: a tiny file must not stand for a huge object", () => {
  it("rejects nested memo references (billion laughs)", async () => {
    const parts: number[][] = [op.proto(2), op.emptyList, op.binput(0)];
    for (let level = 1; level <= 12; level++) {
      parts.push(op.mark, ...Array(10).fill(op.binget(level - 1)), x.list, op.binput(level));
    }
    parts.push(op.stop);
    const report = await check(pickle(...parts));
    expect(codes(report)).toContain("PICKLE_EXPANSION");
  });

  it("rejects values DUP piles up and STOP leaves behind", async () => {
    const data = pickle(op.proto(4), op.emptyList, ...Array(150).fill(x.dup), op.stop);
    expect(codes(await check(data))).toContain("PICKLE_EXPANSION");
  });

  it("rejects a memo index that makes the C unpickler allocate a table of 2^33 entries", async () => {
    const data = pickle(op.proto(2), op.none, op.longBinput(0xffffffff), op.stop);
    expect(codes(await check(data))).toContain("PICKLE_EXPANSION");
  });

  it.each([
    ["list(range(10**12))", "list"],
    ["sorted(range(10**12))", "sorted"],
    ["collections.deque(range(10**12))", "deque"],
  ])("rejects %s: a safe constructor materialising an iterator of unseen size", async (_n, name) => {
    const module = name === "deque" ? "collections" : "builtins";
    const data = pickle(
      op.proto(2),
      op.global(module, name),
      op.global("builtins", "range"),
      x.long1(10n ** 12n),
      op.tuple1,
      op.reduce,
      op.tuple1,
      op.reduce,
      op.stop,
    );
    expect(codes(await check(data))).toContain("PICKLE_EXPANSION");
  });

  it.each(["bytes", "bytearray"])("rejects builtins.%s called with a size", async (name) => {
    const data = pickle(
      op.proto(2),
      op.global("builtins", name),
      x.long1(2n ** 40n),
      op.tuple1,
      op.reduce,
      op.stop,
    );
    expect(codes(await check(data))).toContain("PICKLE_EXPANSION");
  });

  it.each([
    // Fraction("1e1000000000") computes 10**(10**9); so does Fraction(Decimal("1e1000000000")).as_integer_ratio().
    ["a string with an exponent", [op.binunicode("1e1000000000")]],
    ["a string too long to check", [op.binunicode(`${"1".repeat(600)}e1000000000`)]],
    ["a Decimal", [op.global("decimal", "Decimal"), op.binunicode("1e1000000000"), op.tuple1, op.reduce]],
  ])("rejects fractions.Fraction called on %s, which computes 10**exponent", async (_n, arg) => {
    const data = pickle(
      op.proto(2),
      op.global("fractions", "Fraction"),
      ...arg,
      op.tuple1,
      op.reduce,
      op.stop,
    );
    for (const strict of [false, true])
      expect(codes(await check(data, strict))).toContain("PICKLE_EXPANSION");
  });

  it("accepts the Fractions CPython writes: (numerator, denominator), or str(self) as older Pythons did", async () => {
    for (const args of [
      [op.binint1(3), op.binint1(7), op.tuple2],
      [op.binunicode("-3/7"), op.tuple1],
    ]) {
      const data = pickle(op.proto(2), op.global("fractions", "Fraction"), ...args, op.reduce, op.stop);
      expect((await check(data, true)).findings).toEqual([]);
    }
  });

  it("accepts what CPython writes for sets, bytearrays and ranges under protocol 2", async () => {
    const data = pickle(
      op.proto(2),
      op.mark,
      op.global("__builtin__", "set"),
      op.emptyList,
      op.mark,
      op.binint1(1),
      op.binint1(2),
      op.appends,
      op.tuple1,
      op.reduce,
      op.global("__builtin__", "bytearray"),
      op.global("_codecs", "encode"),
      op.binunicode("ab"),
      op.binunicode("latin1"),
      op.tuple2,
      op.reduce,
      op.tuple1,
      op.reduce,
      op.global("__builtin__", "xrange"),
      op.binint1(0),
      op.binint1(3),
      op.binint1(1),
      op.tuple3,
      op.reduce,
      op.tuple,
      op.stop,
    );
    const report = await check(data, true);
    expect(codes(report)).toEqual([]);
  });
});

describe("containers that hold themselves", () => {
  it("rejects a list appended into itself again and again (fickling's memo expansion sample)", async () => {
    const data = pickle(
      op.proto(4),
      op.emptyList,
      op.memoize,
      ...Array(200).fill([...op.binget(0), ...x.append]),
      op.stop,
    );
    expect(codes(await check(data))).toContain("PICKLE_EXPANSION");
  });

  it("accepts a single cycle, which Python allows (fickling's test_cyclic_pickle agrees)", async () => {
    const dict = pickle(
      op.proto(2),
      op.emptyDict,
      op.binput(0),
      op.shortBinunicode("self"),
      op.binget(0),
      op.setitem,
      op.stop,
    );
    const list = pickle(op.proto(2), op.emptyList, op.memoize, op.binget(0), x.append, op.stop);
    for (const data of [dict, list]) expect((await check(data, true)).accepted).toBe(true);
  });

  it.each([
    [
      "a dict as its own key",
      pickle(
        op.proto(2),
        op.emptyDict,
        op.memoize,
        op.binget(0),
        op.shortBinunicode("v"),
        op.setitem,
        op.stop,
      ),
    ],
    [
      "a set added to itself",
      pickle(op.proto(4), x.emptySet, op.memoize, op.mark, op.binget(0), x.additems, op.stop),
    ],
    ["a list as a dict key", pickle(op.proto(2), op.emptyDict, op.emptyList, op.none, op.setitem, op.stop)],
  ])("rejects %s, which pickle.load fails on (unhashable)", async (_n, data) => {
    const report = await check(data);
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.message).join("\n")).toMatch(/unhashable/);
  });
});

describe("valid pickles past the walk's old fixed limits: 4096-byte lines, a million memo entries", () => {
  it.each([
    ["STRING", pickle(op.string("a".repeat(10_000)), op.stop)],
    ["UNICODE", pickle(x.unicode("é".repeat(50_000)), op.stop)],
    ["UNICODE in a list", pickle(op.mark, x.unicode("b".repeat(100_000)), x.list, op.stop)],
  ])("accepts a valid pickle with a long %s line", async (_n, data) => {
    const report = await check(data, true);
    expect(report.findings).toEqual([]);
    expect(report.accepted).toBe(true);
  });

  it("accepts a pickle of over a million memoized objects (the walk's old fixed memo limit)", async () => {
    const chunk = bytes(
      op.mark,
      ...Array(1000).fill([...op.shortBinunicode("a"), ...op.memoize]),
      op.appends,
    );
    const data = bytes(op.proto(4), op.emptyList, op.memoize, ...Array(1200).fill(chunk), op.stop);
    const report = await check(data);
    expect(report.findings).toEqual([]);
  });

  it("still rejects a line that never ends", async () => {
    const w = await walkPickle(ByteReader.ofBytes(bytes([0x56], "x".repeat(10_000))));
    expect(w.error?.message).toMatch(/ends early|end of data/);
  });
});
