import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { manifestText } from "../../src/model/digest.js";
import { onnx } from "../../src/model/onnx-proto.js";
import { type ValidationReport, validateModel } from "../../src/model/validate.js";
import { addModel } from "./model-fixtures.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-validate-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codes = (report: ValidationReport) => report.findings.map((f) => f.code);
const sha256 = (data: Uint8Array | string) => createHash("sha256").update(data).digest("hex");

async function put(relative: string, data: Uint8Array | string): Promise<string> {
  const path = join(dir, relative);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, data);
  return path;
}

describe("validateModel on good models", () => {
  it("accepts the committed Iris model and summarises its signature", async () => {
    const report = await validateModel("examples/iris/models/v2");
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("onnx");
    expect(report.onnx?.irVersion).toBe(8);
    expect(report.onnx?.opsets).toEqual([{ domain: "ai.onnx", version: 13 }]);
    expect(report.onnx?.inputs).toEqual([{ name: "input", dtype: "FP32", shape: ["N", 4] }]);
    expect(report.onnx?.outputs).toEqual([
      { name: "probabilities", dtype: "FP32", shape: ["N", 3] },
      { name: "label", dtype: "INT64", shape: ["N"] },
    ]);
    const bytes = await readFile("examples/iris/models/v2/model.onnx");
    expect(report.files).toEqual([{ path: "model.onnx", size: bytes.length, sha256: sha256(bytes) }]);
  });

  it("hashes every file, sorted, and derives the digest from the canonical manifest", async () => {
    const model = addModel();
    await put("model.onnx", model);
    await put("b/z.txt", "zz");
    await put("a.json", "{}");
    await put("b.txt", "b");
    const report = await validateModel(dir);
    expect(report.accepted).toBe(true);
    expect(report.files.map((f) => f.path)).toEqual(["a.json", "b.txt", "b/z.txt", "model.onnx"]);
    expect(report.files.find((f) => f.path === "b/z.txt")).toEqual({
      path: "b/z.txt",
      size: 2,
      sha256: sha256("zz"),
    });
    const manifest = [
      `a.json\t2\t${sha256("{}")}\n`,
      `b.txt\t1\t${sha256("b")}\n`,
      `b/z.txt\t2\t${sha256("zz")}\n`,
      `model.onnx\t${model.length}\t${sha256(model)}\n`,
    ].join("");
    expect(manifestText(report.files)).toBe(manifest);
    expect(report.digest).toBe(`sha256:${sha256(manifest)}`);
  });

  it("gives the same digest to the same model in another place, and a new one when a byte changes", async () => {
    await put("one/model.onnx", addModel());
    await put("two/model.onnx", addModel());
    await put("three/model.onnx", addModel({ producerVersion: "2" }));
    const [one, two, three] = await Promise.all(
      ["one", "two", "three"].map((d) => validateModel(join(dir, d))),
    );
    expect(one?.digest).toBe(two?.digest);
    expect(one?.digest).not.toBe(three?.digest);
  });

  it("validates a single file path", async () => {
    const path = await put("m.onnx", addModel());
    const report = await validateModel(path);
    expect(report.accepted).toBe(true);
    expect(report.files.map((f) => f.path)).toEqual(["m.onnx"]);
  });

  it("recognises ONNX by content under another name, with a warning", async () => {
    await put("weights.bin", addModel());
    const report = await validateModel(dir);
    expect(report.format).toBe("onnx");
    expect(report.accepted).toBe(true);
    expect(codes(report)).toEqual(["ONNX_FILE_EXTENSION"]);
  });

  it("follows a symlink to a file inside the model", async () => {
    await put("real/model.onnx", addModel());
    await symlink("real/model.onnx", join(dir, "link.onnx"));
    const report = await validateModel(join(dir));
    expect(report.files.map((f) => f.path)).toEqual(["link.onnx", "real/model.onnx"]);
    expect(codes(report)).toContain("ONNX_MULTIPLE_MODELS");
  });
});

describe("validateModel on bad input", () => {
  it("rejects a missing path", async () => {
    const report = await validateModel(join(dir, "nope"));
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["MODEL_NOT_FOUND"]);
    expect(report.findings[0]?.message).toContain("does not exist");
  });

  it("rejects an empty directory", async () => {
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["MODEL_EMPTY"]);
  });

  it("rejects a directory with no model file", async () => {
    await put("README.md", "# hello");
    await put("config.json", '{"a":1}');
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(report.format).toBe("unknown");
    expect(codes(report)).toEqual(["MODEL_FORMAT_UNKNOWN"]);
    expect(report.files).toHaveLength(2);
  });

  it("rejects a .onnx file that does not parse, naming the file", async () => {
    await put("sub/model.onnx", "this is text, not protobuf");
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({ severity: "error", code: "ONNX_PARSE_ERROR", file: "sub/model.onnx" }),
    ]);
    expect(report.findings[0]?.message).toContain("sub/model.onnx");
  });

  it("rejects an empty .onnx file and a truncated one", async () => {
    const model = addModel();
    await put("empty/model.onnx", new Uint8Array(0));
    await put("cut/model.onnx", model.subarray(0, Math.floor(model.length / 2)));
    for (const sub of ["empty", "cut"]) {
      const report = await validateModel(join(dir, sub));
      expect(report.accepted, sub).toBe(false);
      expect(codes(report), sub).toEqual(["ONNX_PARSE_ERROR"]);
    }
  });

  it("rejects a model with ir_version 0 or without a graph", async () => {
    await put("ir0/model.onnx", addModel({ irVersion: 0 }));
    await put("nograph/model.onnx", onnx.ModelProto.encode({ irVersion: 8 }).finish());
    for (const sub of ["ir0", "nograph"]) {
      expect(codes(await validateModel(join(dir, sub))), sub).toEqual(["ONNX_PARSE_ERROR"]);
    }
  });

  it("rejects a model without outputs or opsets", async () => {
    await put("model.onnx", addModel({ outputs: [], opsets: [] }));
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report).sort()).toEqual(["ONNX_NO_OPSET", "ONNX_NO_OUTPUTS"]);
  });

  it("rejects a symlink that leaves the model directory", async () => {
    const outside = await mkdtemp(join(tmpdir(), "modelship-outside-"));
    try {
      await writeFile(join(outside, "secret"), "s3cr3t");
      await put("model.onnx", addModel());
      await symlink(join(outside, "secret"), join(dir, "escape"));
      await symlink("../..", join(dir, "up"));
      const report = await validateModel(dir);
      expect(report.accepted).toBe(false);
      expect(report.findings.filter((f) => f.code === "SYMLINK_OUTSIDE_MODEL").map((f) => f.file)).toEqual([
        "escape",
        "up",
      ]);
      expect(report.files.map((f) => f.path)).toEqual(["model.onnx"]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("rejects a dangling symlink", async () => {
    await put("model.onnx", addModel());
    await symlink("missing-target", join(dir, "dangling"));
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["SYMLINK_BROKEN"]);
  });

  it("does not follow a symlink loop", async () => {
    await put("model.onnx", addModel());
    await mkdir(join(dir, "d"));
    await symlink("..", join(dir, "d", "loop"));
    const report = await validateModel(dir);
    expect(report.accepted).toBe(true);
    expect(codes(report)).toEqual(["SYMLINK_NOT_FOLLOWED"]);
  });

  it("skips a FIFO instead of blocking on it", async () => {
    await put("model.onnx", addModel());
    execFileSync("mkfifo", [join(dir, "pipe")]);
    const report = await validateModel(dir);
    expect(report.accepted).toBe(true);
    expect(codes(report)).toEqual(["SPECIAL_FILE_SKIPPED"]);
    expect(report.files.map((f) => f.path)).toEqual(["model.onnx"]);
  });

  it("rejects file names with control characters that would corrupt the manifest", async () => {
    await put("model.onnx", addModel());
    await put("evil\tname\n", "x");
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["FILE_NAME_UNSAFE"]);
  });

  it("rejects external tensor data that points outside the model or is missing", async () => {
    const withExternal = (location: string) => {
      const model = onnx.ModelProto.decode(addModel());
      const init = model.graph?.initializer?.[0];
      if (!init) throw new Error("fixture has no initializer");
      init.rawData = new Uint8Array(0);
      init.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
      init.externalData = [onnx.StringStringEntryProto.create({ key: "location", value: location })];
      return onnx.ModelProto.encode(model).finish();
    };
    await put("outside/model.onnx", withExternal("../../../etc/passwd"));
    await put("absolute/model.onnx", withExternal("/etc/passwd"));
    await put("missing/model.onnx", withExternal("weights.data"));
    await put("present/model.onnx", withExternal("weights.data"));
    await put("present/weights.data", new Uint8Array(8));
    expect(codes(await validateModel(join(dir, "outside")))).toEqual(["ONNX_EXTERNAL_DATA_OUTSIDE"]);
    expect(codes(await validateModel(join(dir, "absolute")))).toEqual(["ONNX_EXTERNAL_DATA_OUTSIDE"]);
    expect(codes(await validateModel(join(dir, "missing")))).toEqual(["ONNX_EXTERNAL_DATA_MISSING"]);
    expect((await validateModel(join(dir, "present"))).accepted).toBe(true);
  });

  it("rejects two models in one directory", async () => {
    await put("a.onnx", addModel());
    await put("b.onnx", addModel());
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["ONNX_MULTIPLE_MODELS"]);
    expect(report.findings[0]?.message).toContain("a.onnx, b.onnx");
  });

  it("uses SCREAMING_SNAKE_CASE codes for every finding", async () => {
    await put("x.onnx", "junk");
    await symlink("/", join(dir, "root"));
    const report = await validateModel(dir);
    expect(report.findings.length).toBeGreaterThan(1);
    for (const finding of report.findings) expect(finding.code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
  });
});
