// Files a pickle loader reads though they do not announce themselves with a PROTO byte: torch.load and
// joblib.load pick nothing by content, so a name they are pointed at is walked as a pickle whatever its
// first byte; protocol 0/1 pickles are found by content under any name, without taking text for pickles.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PICKLE_OPCODES as WALK_OPCODES } from "../../src/model/pickle.js";
import { PICKLE_OPCODES } from "../../src/model/pickle-detect.js";
import { type ValidationReport, validateModel } from "../../src/model/validate.js";
import { callGlobal, extensionCode, reduceOnResult } from "../fixtures/model/bypasses.js";
import {
  brokenZip,
  legacyTar,
  protocol0Call,
  protocol0CallThenGarbage,
  protocol0StateDict,
  protocol1Call,
  safetensorsPicklePolyglot,
  storagesWithRawData,
  TEXT_FILES,
} from "../fixtures/model/detection.js";
import { osSystem, torchStateDict } from "../fixtures/model/pickles.js";
import { goodSafetensors } from "../fixtures/model/weights.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-detect-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function validate(name: string, data: Uint8Array | string): Promise<ValidationReport> {
  await writeFile(join(dir, name), data);
  return validateModel(dir);
}

const errors = (report: ValidationReport) => report.findings.filter((f) => f.severity === "error");
const dangerous = (report: ValidationReport) =>
  report.findings.filter((f) => f.code === "PICKLE_GLOBAL_DANGEROUS").map((f) => f.global);
const formatOf = (report: ValidationReport, file: string) =>
  report.artifacts.find((a) => a.file === file)?.format;

describe("names torch.load / joblib.load / pickle.load read are walked whatever their first byte", () => {
  it.each([
    "pytorch_model.bin",
    "model.pt",
    "model.pth",
    "model.ckpt",
    "model.joblib",
    "weights.dat",
    "x.data",
  ])("protocol 0 os.system in %s", async (name) => {
    const report = await validate(name, protocol0Call("os", "system"));
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["os.system"]);
  });

  it("protocol 1 subprocess.getoutput in a .bin", async () => {
    const report = await validate("pytorch_model.bin", protocol1Call("subprocess", "getoutput"));
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["subprocess.getoutput"]);
  });

  it("a .bin that imports os.system and then breaks off (the call has already run)", async () => {
    const report = await validate("pytorch_model.bin", protocol0CallThenGarbage());
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.code).sort()).toEqual([
      "PICKLE_GLOBAL_DANGEROUS",
      "PICKLE_MALFORMED",
    ]);
  });

  it("accepts a protocol 0 checkpoint with only safe imports and calls it a pickle", async () => {
    const report = await validate("model.bin", protocol0StateDict());
    expect(errors(report)).toEqual([]);
    expect(formatOf(report, "model.bin")).toBe("pickle");
    expect(report.artifacts[0]?.pickle?.globals).toEqual(["collections.OrderedDict"]);
  });

  it("a safetensors/pickle polyglot named .bin is walked as the pickle torch.load reads", async () => {
    const report = await validate("pytorch_model.bin", safetensorsPicklePolyglot());
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["os.system"]);
    expect(report.findings.map((f) => f.code)).toContain("FORMAT_POLYGLOT");
  });

  it("the same polyglot named .safetensors is read by safetensors loaders only", async () => {
    const report = await validate("model.safetensors", safetensorsPicklePolyglot());
    expect(formatOf(report, "model.safetensors")).toBe("safetensors");
    expect(errors(report)).toEqual([]);
  });

  it("a plain safetensors file named .bin stays safetensors, with no pickle finding", async () => {
    const report = await validate("model.bin", goodSafetensors());
    expect(report.findings).toEqual([]);
    expect(formatOf(report, "model.bin")).toBe("safetensors");
  });

  it("raw tensor bytes named .bin (ONNX external data) stay data", async () => {
    // Starts with GLOBAL (0x63) and two newline-ended "names" of binary junk, then no valid opcode.
    const raw = new Uint8Array(4096);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7919 + 13) % 251;
    raw.set([0x63, 0xff, 0x10, 0x0a, 0x81, 0x0a, 0x00], 0);
    await writeFile(join(dir, "weights.bin"), raw);
    const report = await validate("model.safetensors", goodSafetensors());
    expect(formatOf(report, "weights.bin")).toBe("data");
    expect(report.findings.filter((f) => f.file === "weights.bin")).toEqual([]);
  });
});

describe("legacy tar checkpoints (torch.load tries tar before pickle)", () => {
  it("accepts a benign one as pytorch", async () => {
    const report = await validate("old.pth", legacyTar(torchStateDict()));
    expect(errors(report)).toEqual([]);
    expect(report.findings).toEqual([]);
    expect(formatOf(report, "old.pth")).toBe("pytorch");
  });

  it.each(["old.pth", "pytorch_model.bin", "checkpoint"])(
    "rejects os.system in the pickle member (%s)",
    async (name) => {
      const report = await validate(name, legacyTar(osSystem()));
      expect(report.accepted).toBe(false);
      expect(report.findings).toContainEqual(
        expect.objectContaining({ code: "PICKLE_GLOBAL_DANGEROUS", global: "os.system", key: "pickle" }),
      );
    },
  );

  it("follows a PAX header that renames a member to pickle", async () => {
    const report = await validate("old.pt", legacyTar(callGlobal("builtins", "exec"), { paxRename: true }));
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["builtins.exec"]);
  });

  it("walks the storages member past the raw storage bytes without warning, and finds a smuggled import", async () => {
    const clean = await validate(
      "a.pt",
      legacyTar(torchStateDict(), { storages: storagesWithRawData(torchStateDict()) }),
    );
    expect(clean.findings).toEqual([]);
    await rm(join(dir, "a.pt"));
    const evil = await validate(
      "b.pt",
      legacyTar(torchStateDict(), { storages: storagesWithRawData(osSystem()) }),
    );
    expect(evil.findings).toContainEqual(
      expect.objectContaining({ code: "PICKLE_GLOBAL_DANGEROUS", global: "os.system", key: "storages" }),
    );
  });
});

describe(".pt files that are not zips", () => {
  it("reports the globals of a .pt that is a protocol 0 pickle instead of ZIP_INVALID", async () => {
    const report = await validate("model.pt", protocol0Call("posix", "system"));
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.code)).toEqual(["PICKLE_GLOBAL_DANGEROUS"]);
    expect(dangerous(report)).toEqual(["posix.system"]);
  });

  it("still rejects a .pt that is neither zip nor pickle as ZIP_INVALID", async () => {
    const report = await validate("model.pt", "this is not a checkpoint\n");
    expect(report.findings.map((f) => f.code)).toEqual(["ZIP_INVALID"]);
  });
});

describe("zips the zip library cannot read", () => {
  it.each([
    ["weights.zip", true],
    ["pytorch_model.bin", false],
    ["archive", true],
  ])("is an error when it looks like a checkpoint (%s, data.pkl inside: %s)", async (name, withDataPkl) => {
    const report = await validate(name, brokenZip(withDataPkl, osSystem()));
    expect(report.accepted).toBe(false);
    expect(report.findings).toContainEqual(
      expect.objectContaining({ code: "ZIP_INVALID", severity: "error" }),
    );
  });

  it("is only a warning for an unrelated zip", async () => {
    await writeFile(join(dir, "model.safetensors"), goodSafetensors());
    const report = await validate("notes.zip", brokenZip(false, osSystem()));
    expect(report.findings).toEqual([expect.objectContaining({ code: "ZIP_INVALID", severity: "warning" })]);
  });
});

describe("protocol 0/1 pickles are detected by content under any name", () => {
  it.each(["model", "weights.npz", "model.txt"])("%s holding a protocol 0 os.system call", async (name) => {
    const report = await validate(name, protocol0Call("os", "system"));
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["os.system"]);
  });

  it("a protocol 1 pickle without extension", async () => {
    const report = await validate("blob", protocol1Call("runpy", "run_path"));
    expect(report.accepted).toBe(false);
    expect(dangerous(report)).toEqual(["runpy.run_path"]);
  });

  it("keeps text files that start with pickle opcodes as data", async () => {
    for (const [name, text] of Object.entries(TEXT_FILES)) await writeFile(join(dir, name), text);
    await writeFile(join(dir, "model.safetensors"), goodSafetensors());
    const report = await validateModel(dir);
    expect(report.findings).toEqual([]);
    expect(report.accepted).toBe(true);
    for (const name of Object.keys(TEXT_FILES)) expect(formatOf(report, name), name).toBe("data");
  });
});

describe("hazards and extension codes", () => {
  it("reports a hazard as PICKLE_HAZARD (error), not as a malformed stream", async () => {
    const report = await validate("model.pkl", reduceOnResult());
    expect(report.accepted).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: "PICKLE_HAZARD",
        severity: "error",
        message: expect.stringContaining("REDUCE"),
      }),
    ]);
  });

  it("makes an extension code an error", async () => {
    const report = await validate("model.pkl", extensionCode());
    expect(report.findings).toContainEqual(
      expect.objectContaining({ code: "PICKLE_EXTENSION_CODE", severity: "error" }),
    );
    expect(report.findings.map((f) => f.code)).not.toContain("PICKLE_MALFORMED");
  });
});

describe("the opcode table", () => {
  it("is one set, for detection and for the joblib walk, of CPython's 68 opcodes (pickletools.opcodes)", () => {
    expect(PICKLE_OPCODES).toBe(WALK_OPCODES);
    expect(PICKLE_OPCODES.size).toBe(68);
    for (const byte of [0x28, 0x2e, 0x63, 0x80, 0x95, 0x98]) expect(PICKLE_OPCODES.has(byte)).toBe(true);
    for (const byte of [0x00, 0x7f, 0x99, 0xff]) expect(PICKLE_OPCODES.has(byte)).toBe(false);
  });
});
