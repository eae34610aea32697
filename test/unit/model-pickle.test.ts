import { describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import { walkPickle } from "../../src/model/pickle.js";
import { judgeGlobal } from "../../src/model/pickle-policy.js";
import { inspectZip, unsafeMemberPath } from "../../src/model/torch-zip.js";
import {
  bytes,
  legacyTorch,
  memoSmuggled,
  op,
  osSystem,
  pickle,
  torchStateDict,
} from "../fixtures/model/pickles.js";
import { torchZip, zip } from "../fixtures/model/zip.js";

const walk = (b: Uint8Array) => walkPickle(ByteReader.ofBytes(b));
const names = (w: Awaited<ReturnType<typeof walk>>) => w.globals.map((g) => `${g.module}.${g.name}`);

describe("walkPickle", () => {
  it("lists the globals of a torch state dict without errors", async () => {
    const w = await walk(torchStateDict());
    expect(w.error).toBeUndefined();
    expect(w.protocol).toBe(2);
    expect(names(w)).toEqual([
      "collections.OrderedDict",
      "torch._utils._rebuild_tensor_v2",
      "torch.FloatStorage",
    ]);
    expect(w.globals[0]).toMatchObject({ opcode: "GLOBAL", offset: 2 });
  });

  it("resolves STACK_GLOBAL strings pushed just before it", async () => {
    const w = await walk(osSystem());
    expect(w.error).toBeUndefined();
    expect(w.globals).toEqual([
      expect.objectContaining({ module: "os", name: "system", opcode: "STACK_GLOBAL" }),
    ]);
  });

  it("resolves STACK_GLOBAL strings that travel through MEMOIZE, BINPUT, BINGET and LONG_BINGET", async () => {
    const w = await walk(memoSmuggled("subprocess", "Popen"));
    expect(w.error).toBeUndefined();
    expect(names(w)).toEqual(["subprocess.Popen"]);
  });

  it("resolves protocol 0 INST and text PUT/GET", async () => {
    const w = await walk(
      pickle(op.mark, op.string("ls"), op.inst("posix", "system"), op.put(3), op.pop, op.get(3), op.stop),
    );
    expect(w.error).toBeUndefined();
    expect(w.globals).toEqual([expect.objectContaining({ module: "posix", name: "system", opcode: "INST" })]);
  });

  it("skips payloads without keeping them and checks their length against the file", async () => {
    const w = await walk(pickle(op.proto(3), op.binbytes(100_000), op.stop));
    expect(w.error).toBeUndefined();
    // A 4 GiB BINBYTES claim in a 10-byte file is malformed before anything is allocated.
    const lying = await walk(pickle(op.proto(3), [0x42, 0xff, 0xff, 0xff, 0xff], op.stop));
    expect(lying.error?.message).toMatch(/exceeds the \d+ bytes left/);
  });

  it("walks the five pickles of a legacy torch.save file and ignores the storage bytes after them", async () => {
    const w = await walk(legacyTorch());
    expect(w.error).toBeUndefined();
    expect(w.legacyTorch).toBe(true);
    expect(w.pickles).toBe(5);
    expect(w.trailingBytes).toBe(24);
    expect(names(w)).toContain("torch._utils._rebuild_tensor_v2");
  });

  it("keeps the globals found before a stream turns malformed", async () => {
    const w = await walk(pickle(op.proto(2), op.global("os", "system"), [0xff]));
    expect(w.error?.message).toContain("unknown opcode 0xff");
    expect(w.error?.offset).toBe(2 + 11);
    expect(names(w)).toEqual(["os.system"]);
  });

  it.each([
    ["empty", new Uint8Array(0), "empty"],
    ["truncated", torchStateDict().subarray(0, 40), "exceeds"],
    ["no STOP", pickle(op.proto(2), op.none), "ends early"],
    ["stack underflow", pickle(op.proto(2), op.reduce), "underflow"],
    [
      "STACK_GLOBAL on non-strings",
      pickle(op.proto(4), op.none, op.none, op.stackGlobal, op.stop),
      "two strings",
    ],
    ["GET of a missing memo key", pickle(op.proto(2), op.binget(9), op.stop), "never stored"],
    ["protocol 6", pickle(op.proto(6), op.none, op.stop), "protocol 6"],
    ["POP_MARK without MARK", pickle([0x31], op.stop), "MARK"],
    // No line limit of its own: a line runs to the end of the data at most (protocol 0 text has no bound).
    ["endless GLOBAL line", bytes([0x63], "x".repeat(10_000)), "has no end"],
  ])("rejects a %s stream", async (_name, data, why) => {
    const w = await walk(data);
    expect(w.error?.message).toContain(why);
  });
});

describe("judgeGlobal", () => {
  it.each([
    ["os", "system"],
    ["posix", "system"],
    ["nt", "system"],
    ["subprocess", "Popen"],
    ["sys", "modules"],
    ["builtins", "eval"],
    ["builtins", "exec"],
    ["__builtin__", "getattr"],
    ["builtins", "__import__"],
    ["builtins", "open"],
    ["socket", "socket"],
    ["shutil", "rmtree"],
    ["runpy", "run_path"],
    ["importlib", "import_module"],
    ["pty", "spawn"],
    ["webbrowser", "open"],
    ["pickle", "loads"],
    ["_pickle", "loads"],
    ["marshal", "loads"],
    ["torch.storage", "_load_from_bytes"],
    ["numpy", "load"],
    ["os.path", "join"],
    ["numpy.core.multiarray", "_reconstruct.__globals__"],
    ["builtins", "object.__subclasses__"],
    ["operator", "attrgetter"],
  ])("%s.%s is dangerous", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });

  it.each([
    ["collections", "OrderedDict"],
    ["torch._utils", "_rebuild_tensor_v2"],
    ["torch", "FloatStorage"],
    ["torch", "BFloat16Storage"],
    ["numpy.core.multiarray", "_reconstruct"],
    ["numpy._core.multiarray", "_reconstruct"],
    ["numpy", "dtype"],
    ["numpy", "ndarray"],
    ["copy_reg", "_reconstructor"],
    ["__builtin__", "set"],
    ["sklearn.linear_model._logistic", "LogisticRegression"],
    ["torch.nn.modules.linear", "Linear"],
  ])("%s.%s is safe", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("safe");
  });

  it("calls anything else unknown, unless the user allowed it", () => {
    expect(judgeGlobal("__main__", "Net").verdict).toBe("unknown");
    expect(judgeGlobal("sklearn.utils", "some_function").verdict).toBe("unknown");
    expect(judgeGlobal("__main__", "Net", ["__main__.Net"]).verdict).toBe("safe");
    // An allow list cannot make a dangerous global safe.
    expect(judgeGlobal("os", "system", ["os.system"]).verdict).toBe("dangerous");
  });
});

describe("inspectZip", () => {
  it("finds data.pkl in a torch zip checkpoint and walks it", async () => {
    const z = await inspectZip({ bytes: torchZip(torchStateDict()) });
    expect(z.error).toBeUndefined();
    expect(z.dataPkl).toBe("archive");
    expect(z.members).toBe(4);
    expect(z.pickles.map((p) => p.member)).toEqual(["archive/data.pkl"]);
    expect(z.pickles[0]?.walk.globals.map((g) => g.name)).toContain("_rebuild_tensor_v2");
  });

  it("walks a malicious data.pkl", async () => {
    const z = await inspectZip({ bytes: torchZip(osSystem()) });
    expect(z.pickles[0]?.walk.globals.map((g) => `${g.module}.${g.name}`)).toEqual(["os.system"]);
  });

  it("reports members with .. or absolute paths without extracting them", async () => {
    const z = await inspectZip({
      bytes: torchZip(torchStateDict(), [
        { name: "archive/../../evil.pkl", data: osSystem() },
        { name: "/etc/cron.d/x", data: "x" },
        { name: "C:\\x", data: "x" },
      ]),
    });
    expect(z.unsafeMembers).toEqual(["archive/../../evil.pkl", "/etc/cron.d/x", "C:\\x"]);
    expect(z.pickles.map((p) => p.member)).toEqual(["archive/data.pkl"]);
  });

  it("reports a zip without data.pkl and a file that is no zip", async () => {
    expect((await inspectZip({ bytes: zip([{ name: "a.txt", data: "a" }]) })).dataPkl).toBeUndefined();
    expect(
      (await inspectZip({ bytes: new TextEncoder().encode("PK\u0003\u0004 not really") })).error,
    ).toMatch(/not a readable zip/);
  });

  it("reports a member whose data is cut short", async () => {
    const whole = torchZip(torchStateDict());
    const z = await inspectZip({ bytes: whole.subarray(0, whole.length - 30) });
    expect(z.error ?? z.pickles[0]?.walk.error?.message).toBeDefined();
  });

  it("classifies member paths", () => {
    expect(unsafeMemberPath("archive/data.pkl")).toBe(false);
    expect(unsafeMemberPath("a/..b/c")).toBe(false);
    expect(unsafeMemberPath("a/../b")).toBe(true);
    expect(unsafeMemberPath("..\\b")).toBe(true);
  });
});
