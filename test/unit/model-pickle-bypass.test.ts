// Published ways past pickle scanners (picklescan / modelscan advisories and issues, fickling's analysis),
// each rebuilt by hand: under the default policy (unknown globals only warn) every one must be rejected.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ByteReader } from "../../src/model/byte-reader.js";
import { walkPickle } from "../../src/model/pickle.js";
import { judgeGlobal } from "../../src/model/pickle-policy.js";
import { inspectZip } from "../../src/model/torch-zip.js";
import { validateModel } from "../../src/model/validate.js";
import {
  binunicode8,
  buildOnGlobal,
  callGlobal,
  escapedString,
  extensionCode,
  legacyTorchProtocol0Object,
  legacyTorchTextMagic,
  longModuleName,
  manyPickles,
  objOnResult,
  rawUnicodeEscape,
  reduceOnResult,
  secondPickleProtocol0,
  setitemOnGlobal,
  stackGlobalCall,
} from "../fixtures/model/bypasses.js";
import { legacyTorch, op, pickle, torchStateDict } from "../fixtures/model/pickles.js";
import { torchZip, zip } from "../fixtures/model/zip.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-bypass-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validate(name: string, data: Uint8Array) {
  await writeFile(join(dir, name), data);
  return validateModel(dir);
}

const walk = (b: Uint8Array) => walkPickle(ByteReader.ofBytes(b));
const errors = (report: Awaited<ReturnType<typeof validate>>) =>
  report.findings.filter((f) => f.severity === "error");

describe("globals a block list used to miss are dangerous", () => {
  it.each([
    // picklescan advisories and PRs (GHSA-vvpj-8cmc-gx39, #66, #69, #74) and its current _unsafe_globals.
    ["cProfile", "run"],
    ["profile", "Profile.runctx"],
    ["pydoc", "locate"],
    ["pydoc", "pipepager"],
    ["functools", "partial"],
    ["doctest", "debug_script"],
    ["idlelib.pyshell", "ModifiedInterpreter.runcode"],
    ["lib2to3.pgen2.grammar", "Grammar.loads"],
    ["imaplib", "IMAP4_stream"],
    ["mailcap", "findmatch"],
    ["torch._dynamo.guards", "GuardBuilder.get"],
    ["torch._inductor.codecache", "compile_file"],
    ["torch.fx.experimental.symbolic_shapes", "ShapeEnv.evaluate_guards_expression"],
    ["torch.fx.graph_module", "reduce_graph_module"],
    ["torch.utils.collect_env", "run"],
    ["torch.utils._config_module", "ConfigModule.load_config"],
    ["torch.jit.unsupported_tensor_ops", "execWrapper"],
    // fickling's UNSAFE_IMPORTS: private stdlib modules, call helpers, file and process modules.
    ["_operator", "attrgetter"],
    ["_ctypes", "dlopen"],
    ["_xxsubinterpreters", "run_string"],
    ["atexit", "register"],
    ["logging.config", "listen"],
    ["tarfile", "open"],
    ["pipes", "Template"],
    ["unittest.mock", "patch"],
    // Loaders of other files or libraries, and an import-anything helper inside torch.
    ["numpy.ctypeslib", "load_library"],
    ["numpy.lib._npyio_impl", "load"],
    ["torch.ops", "load_library"],
    ["torch._utils", "_import_dotted_name"],
    ["torch.serialization", "_load"],
    ["yaml", "unsafe_load"],
    ["pandas.io.pickle", "read_pickle"],
    // Python 2 names the unpickler maps to dangerous Python 3 modules (fix_imports).
    ["thread", "start_new_thread"],
    ["xmlrpclib", "ServerProxy"],
    ["SocketServer", "TCPServer"],
    ["SimpleHTTPServer", "test"],
    // copyreg and builtins are closed: only the names checkpoints need are accepted.
    ["copyreg", "pickle"],
    ["copy_reg", "_extension_registry"],
    ["builtins", "iter"],
    ["builtins", "map"],
  ])("%s.%s", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });

  it.each([
    // Protocol 4 resolves dotted names attribute by attribute: the path, not the module, decides.
    ["torch", "hub.load"],
    ["torch", "serialization.load"],
    ["numpy", "testing._private.utils.runstring"],
    ["torch", "_utils._import_dotted_name"],
    // Modules keep their own imports as attributes (`import os`, `import sys as _sys`).
    ["torch.serialization", "os.system"],
    ["collections", "_sys.modules"],
    ["__main__", "subprocess.Popen"],
    ["sklearn.base", "np.load"],
  ])("attribute chain %s + %s", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });

  it.each([
    ["o\\x73", "system"],
    ["os\r", "system"],
    ["torch", "nn.<locals>.f"],
    ["numpy", "core..multiarray"],
  ])("a name no Python import produces: %j %j", (module, name) => {
    expect(judgeGlobal(module, name).verdict).toBe("dangerous");
  });

  it("still accepts what plain checkpoints need and leaves plain unknown classes unknown", () => {
    for (const [module, name] of [
      ["torch._utils", "_rebuild_tensor_v2"],
      ["torch._tensor", "_rebuild_from_type_v2"],
      ["torch.serialization", "_get_layout"],
      ["torch.storage", "UntypedStorage"],
      ["copyreg", "_reconstructor"],
      ["_codecs", "encode"],
      ["builtins", "set"],
      ["numpy.core.multiarray", "scalar"],
      ["numpy._core.numeric", "_frombuffer"],
      ["sklearn.ensemble._forest", "RandomForestClassifier"],
    ] as const) {
      expect(judgeGlobal(module, name).verdict, `${module}.${name}`).toBe("safe");
    }
    expect(judgeGlobal("__main__", "Net").verdict).toBe("unknown");
    expect(judgeGlobal("mylib.models", "Outer.Inner").verdict).toBe("unknown");
  });
});

describe("the walker sees the string Python sees", () => {
  it("decodes STRING escapes and UNICODE raw-unicode-escape before judging", async () => {
    expect((await walk(escapedString())).globals).toEqual([
      expect.objectContaining({ module: "os", name: "system", opcode: "STACK_GLOBAL" }),
    ]);
    expect((await walk(rawUnicodeEscape())).globals).toEqual([
      expect.objectContaining({ module: "os", name: "system" }),
    ]);
    expect((await walk(binunicode8())).globals).toEqual([
      expect.objectContaining({ module: "subprocess", name: "getoutput" }),
    ]);
  });

  it("walks a legacy torch.save object pickle written without a PROTO byte, and a text magic", async () => {
    for (const data of [legacyTorchProtocol0Object(), legacyTorchTextMagic()]) {
      const w = await walk(data);
      expect(w.legacyTorch).toBe(true);
      expect(w.pickles).toBe(5);
      expect(w.globals.map((g) => `${g.module}.${g.name}`)).toContain("os.system");
    }
  });

  it("walks a second pickle that starts without PROTO", async () => {
    const w = await walk(secondPickleProtocol0());
    expect(w.pickles).toBe(2);
    expect(w.globals.map((g) => `${g.module}.${g.name}`)).toContain("os.system");
  });

  it("treats random bytes after the last pickle as data, not as imports", async () => {
    // 0x63 is GLOBAL: trailing bytes that merely contain it must not become a finding.
    const noise = new Uint8Array([0x63, 0xff, 0xfe, 0x0a, 0x01, 0x0a, 0x99, 0x00, 0x63]);
    const w = await walk(new Uint8Array([...torchStateDict(), ...noise]));
    expect(w.error).toBeUndefined();
    expect(w.trailingBytes).toBe(noise.length);
    expect(w.globals.map((g) => g.module)).toEqual(["collections", "torch._utils", "torch"]);
  });
});

describe("validateModel rejects every bypass under the default policy", () => {
  it.each([
    ["escaped STRING", escapedString()],
    ["raw-unicode-escape UNICODE", rawUnicodeEscape()],
    ["BINUNICODE8 strings", binunicode8()],
    ["EXT1 extension code", extensionCode()],
    ["BUILD on a global", buildOnGlobal()],
    ["SETITEM on a global", setitemOnGlobal()],
    ["REDUCE on a call's result", reduceOnResult()],
    ["OBJ on a call's result", objOnResult()],
    ["second pickle in protocol 0", secondPickleProtocol0()],
    ["seventeenth pickle", manyPickles()],
    ["600-character module name", longModuleName()],
    ["torch + hub.load", stackGlobalCall("torch", "hub.load")],
    ["cProfile.run", callGlobal("cProfile", "run")],
    ["pydoc.locate", callGlobal("pydoc", "locate")],
    ["thread (Python 2 name of _thread)", callGlobal("thread", "start_new_thread")],
  ])("%s (.pkl)", async (_name, data) => {
    const report = await validate("model.pkl", data);
    expect(report.accepted).toBe(false);
    expect(errors(report).length).toBeGreaterThan(0);
  });

  it.each([
    ["protocol 0 object pickle", "model.pt", legacyTorchProtocol0Object()],
    ["text magic number", "model.pkl", legacyTorchTextMagic()],
  ])("legacy torch.save with a %s (%s)", async (_name, file, data) => {
    const report = await validate(file, data);
    expect(report.accepted).toBe(false);
    expect(errors(report).map((f) => f.global)).toContain("os.system");
  });

  it("rejects a .pt legacy file whose first byte is no PROTO (it is not read as a zip either)", async () => {
    const report = await validate("model.pt", legacyTorchTextMagic());
    expect(report.accepted).toBe(false);
  });

  it("walks a torch zip member named DATA.PKL (torch's zip reader matches names case-insensitively)", async () => {
    const archive = zip([
      { name: "archive/data.pkl", data: torchStateDict() },
      { name: "archive/DATA.PKL", data: callGlobal("os", "system") },
      { name: "archive/version", data: "3\n" },
    ]);
    const z = await inspectZip({ bytes: archive });
    expect(z.pickles.map((p) => p.member)).toEqual(["archive/data.pkl", "archive/DATA.PKL"]);
    const report = await validate("model.pt", archive);
    expect(report.accepted).toBe(false);
    expect(errors(report).map((f) => f.global)).toContain("os.system");
  });

  it("rejects a torch zip whose data.pkl smuggles its global through escapes", async () => {
    const report = await validate("model.pt", torchZip(escapedString()));
    expect(report.accepted).toBe(false);
  });

  it("keeps accepting the plain checkpoints", async () => {
    const plain: [string, Uint8Array][] = [
      ["a.pt", torchZip(torchStateDict())],
      ["b.pt", legacyTorch()],
      ["c.pkl", pickle(op.proto(2), op.global("copy_reg", "_reconstructor"), op.pop, op.none, op.stop)],
    ];
    for (const [name, data] of plain) {
      await rm(dir, { recursive: true, force: true });
      dir = await mkdtemp(join(tmpdir(), "modelship-bypass-"));
      const report = await validate(name, data);
      expect(errors(report), name).toEqual([]);
      expect(report.accepted, name).toBe(true);
    }
  });
});
