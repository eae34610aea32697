// Thin model validation: list and hash every file, compute the model digest, recognise ONNX by content
// and summarise it. Bad model content never throws: it ends up as findings in the report.
import { open, readFile, stat } from "node:fs/promises";
import { isAbsolute, posix } from "node:path";
import { type FileEntry, modelDigest, sha256File } from "./digest.js";
import type { Finding } from "./findings.js";
import { inspectOnnx, type OnnxInspection, type OnnxSummary } from "./onnx-inspect.js";
import { type WalkResult, walkModel } from "./walk.js";

export type { FileEntry } from "./digest.js";
export type { Finding } from "./findings.js";
export type { OnnxSummary, TensorSignature } from "./onnx-inspect.js";

export interface ValidationReport {
  path: string;
  accepted: boolean;
  format: "onnx" | "unknown";
  digest: string;
  files: FileEntry[];
  findings: Finding[];
  onnx?: OnnxSummary;
}

// Protobuf messages cannot exceed 2 GiB; larger ONNX models must use external data files.
const PROTOBUF_LIMIT = 2 ** 31 - 1;
// Files not named *.onnx are only sniffed when small, so a directory of big weights is not read twice.
const SNIFF_LIMIT = 64 * 1024 * 1024;
// ModelProto writers emit field 1 (ir_version, varint) first: tag byte 0x08.
const MODEL_PROTO_FIRST_BYTE = 0x08;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function firstByte(path: string): Promise<number | undefined> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(1);
    const { bytesRead } = await handle.read(buffer, 0, 1, 0);
    return bytesRead === 1 ? buffer[0] : undefined;
  } finally {
    await handle.close();
  }
}

interface OnnxCandidate {
  file: string;
  inspection: OnnxInspection;
}

async function findOnnx(
  walked: WalkResult,
  files: FileEntry[],
  findings: Finding[],
): Promise<OnnxCandidate[]> {
  const found: OnnxCandidate[] = [];
  for (const [index, entry] of files.entries()) {
    const absolutePath = walked.files[index]?.absolutePath ?? "";
    const named = entry.path.toLowerCase().endsWith(".onnx");
    if (!named && (entry.size > SNIFF_LIMIT || entry.size === 0)) continue;
    if (!named && (await firstByte(absolutePath)) !== MODEL_PROTO_FIRST_BYTE) continue;
    if (named && entry.size > PROTOBUF_LIMIT) {
      findings.push({
        severity: "error",
        code: "ONNX_TOO_LARGE",
        message: `${entry.path} is ${entry.size} bytes; a protobuf cannot exceed 2 GiB. Save the model with external data (onnx.save(..., save_as_external_data=True))`,
        file: entry.path,
      });
      continue;
    }
    try {
      const inspection = inspectOnnx(await readFile(absolutePath));
      found.push({ file: entry.path, inspection });
      if (!named) {
        findings.push({
          severity: "warning",
          code: "ONNX_FILE_EXTENSION",
          message: `${entry.path} holds an ONNX model but is not named *.onnx; the model server only looks for *.onnx files`,
          file: entry.path,
        });
      }
    } catch (error) {
      if (!named) continue;
      findings.push({
        severity: "error",
        code: "ONNX_PARSE_ERROR",
        message: `${entry.path} is named .onnx but cannot be read as an ONNX model: ${message(error)}. Re-export it (torch.onnx.export, tf2onnx, skl2onnx) and check it with onnx.checker.check_model`,
        file: entry.path,
      });
    }
  }
  return found;
}

/** Checks on a recognised ONNX model that the runtime would otherwise report at load time, or not at all. */
function checkOnnx(candidate: OnnxCandidate, fileSet: Set<string>): Finding[] {
  const { file, inspection } = candidate;
  const { summary } = inspection;
  const findings: Finding[] = [];
  if (summary.opsets.length === 0) {
    findings.push({
      severity: "error",
      code: "ONNX_NO_OPSET",
      message: `${file} imports no operator set; re-export it with an explicit opset`,
      file,
    });
  }
  if (summary.outputs.length === 0) {
    findings.push({
      severity: "error",
      code: "ONNX_NO_OUTPUTS",
      message: `${file} declares no graph outputs`,
      file,
    });
  }
  if (summary.inputs.length === 0) {
    findings.push({
      severity: "warning",
      code: "ONNX_NO_INPUTS",
      message: `${file} declares no graph inputs (every request gets the same answer)`,
      file,
    });
  }
  const modelDir = posix.dirname(file);
  for (const location of inspection.externalDataLocations) {
    const resolved = posix.normalize(posix.join(modelDir, location));
    // The runtime opens these paths itself: a hostile model could point at /etc/shadow or ../../secrets.
    if (
      !location ||
      isAbsolute(location) ||
      posix.isAbsolute(location) ||
      resolved.startsWith("../") ||
      resolved === ".."
    ) {
      findings.push({
        severity: "error",
        code: "ONNX_EXTERNAL_DATA_OUTSIDE",
        message: `${file} reads tensor data from ${JSON.stringify(location)}, outside the model directory`,
        file,
      });
    } else if (!fileSet.has(resolved)) {
      findings.push({
        severity: "error",
        code: "ONNX_EXTERNAL_DATA_MISSING",
        message: `${file} reads tensor data from ${JSON.stringify(location)}, which is not in the model directory; add the file next to the model`,
        file,
      });
    }
  }
  return findings;
}

function rejected(path: string, finding: Finding): ValidationReport {
  return {
    path,
    accepted: false,
    format: "unknown",
    digest: modelDigest([]),
    files: [],
    findings: [finding],
  };
}

/** Validate a model file or directory. Only programming errors throw; bad content becomes findings. */
export async function validateModel(path: string): Promise<ValidationReport> {
  let walked: WalkResult;
  try {
    walked = await walkModel(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" || code === "ENOTDIR" ? "does not exist" : `cannot be read (${message(error)})`;
    return rejected(path, {
      severity: "error",
      code: "MODEL_NOT_FOUND",
      message: `model path ${path} ${why}; check the model path setting`,
    });
  }
  const findings: Finding[] = [...walked.findings];
  const files: FileEntry[] = [];
  const readable: WalkResult = { ...walked, files: [] };
  for (const file of walked.files) {
    try {
      const { sha256, size } = await sha256File(file.absolutePath);
      files.push({ path: file.path, size, sha256 });
      readable.files.push(file);
    } catch (error) {
      findings.push({
        severity: "error",
        code: "FILE_UNREADABLE",
        message: `${file.path} cannot be read: ${message(error)}`,
        file: file.path,
      });
    }
  }

  const report: ValidationReport = {
    path,
    accepted: false,
    format: "unknown",
    digest: modelDigest(files),
    files,
    findings,
  };
  if (files.length === 0 && walked.files.length === 0) {
    const isDir = await stat(path).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (isDir) {
      findings.push({
        severity: "error",
        code: "MODEL_EMPTY",
        message: `model directory ${path} holds no files; point the model path at the directory with the model file`,
      });
    }
    return report;
  }

  const candidates = await findOnnx(readable, files, findings);
  if (candidates.length > 1) {
    findings.push({
      severity: "error",
      code: "ONNX_MULTIPLE_MODELS",
      message: `found ${candidates.length} ONNX models (${candidates.map((c) => c.file).join(", ")}); keep one per model directory or point the model path at the file`,
    });
  }
  const [first] = candidates;
  if (first) {
    report.format = "onnx";
    report.onnx = first.inspection.summary;
    findings.push(...checkOnnx(first, new Set(files.map((f) => f.path))));
  } else if (!findings.some((f) => f.code === "ONNX_PARSE_ERROR")) {
    findings.push({
      severity: "error",
      code: "MODEL_FORMAT_UNKNOWN",
      message: `no model file recognised in ${path} (looked for ONNX); export the model to ONNX`,
    });
  }
  report.accepted = !findings.some((f) => f.severity === "error");
  return report;
}
