// Model validation: list and hash every file (the digest), recognise each file's format by content and
// check it (pickle globals, safetensors/GGUF headers, ONNX graphs, archives), recognise MLflow / Hugging
// Face / SavedModel layouts, apply the team's policy, compare the signature with the stable model's, and
// smoke-run ONNX models. Bad model content never throws: it ends up as findings in the report.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../util/errors.js";
import { FileReadError, readRegularText } from "../util/regular-file.js";
import { type ContainerFormat, type ContainerInfo, inspectContainer } from "./containers.js";
import { type FileEntry, modelDigest, sha256File } from "./digest.js";
import type { Finding } from "./findings.js";
import { type Artifact, type InspectedFile, inspectFile } from "./inspect-file.js";
import { checkOnnx } from "./onnx-check.js";
import type { OnnxSummary } from "./onnx-inspect.js";
import { DEFAULT_POLICY, type FileFormat, type ValidationPolicy } from "./policy.js";
import { compareSignatures, type Signature, type SignatureChange } from "./signature.js";
import { type SmokeResult, smokeRun } from "./smoke.js";
import { type WalkedFile, type WalkResult, walkModel } from "./walk.js";

export type { FileEntry } from "./digest.js";
export type { Finding } from "./findings.js";
export type { Artifact } from "./inspect-file.js";
export type { OnnxSummary, TensorSignature } from "./onnx-inspect.js";
export type { ValidationPolicy } from "./policy.js";
export type { Signature } from "./signature.js";

export type ModelFormat = FileFormat | ContainerFormat | "unknown";

export interface ValidationReport {
  path: string;
  accepted: boolean;
  format: ModelFormat;
  digest: string;
  files: FileEntry[];
  findings: Finding[];
  /** Every file with the format found in it ("data" for files that are no model format). */
  artifacts: Artifact[];
  onnx?: OnnxSummary;
  /** Input/output signature, where the format has one (ONNX, MLflow). */
  signature?: Signature;
  container?: Omit<ContainerInfo, "signature">;
  compatibility?: { baseline: string; changes: SignatureChange[] };
  smoke?: SmokeResult;
}

export interface ValidateOptions {
  policy?: Partial<ValidationPolicy>;
  /** The stable model to stay compatible with: a model path, or a validation report (.json). */
  baseline?: string;
}

// When a directory holds weights in several formats, the one a server would pick.
const PRIORITY: FileFormat[] = ["onnx", "safetensors", "gguf", "pytorch", "pickle", "numpy", "savedmodel"];

function rejected(path: string, finding: Finding): ValidationReport {
  return {
    path,
    accepted: false,
    format: "unknown",
    digest: modelDigest([]),
    files: [],
    findings: [finding],
    artifacts: [],
  };
}

// A saved report of a model of a hundred thousand files is some 20 MB.
const BASELINE_REPORT_LIMIT = 64 * 1024 * 1024;

async function readBaseline(baseline: string): Promise<Signature | string> {
  try {
    if (baseline.toLowerCase().endsWith(".json")) {
      // Only a regular file: a FIFO would block validate for ever, /dev/zero would never end.
      const text = await readRegularText(baseline, {
        maxBytes: BASELINE_REPORT_LIMIT,
        what: "baseline report",
      });
      const report = JSON.parse(text) as Partial<ValidationReport>;
      const sig = report.signature ?? report.onnx;
      if (!sig || !Array.isArray(sig.inputs) || !Array.isArray(sig.outputs))
        return `${baseline} holds no signature`;
      return { inputs: sig.inputs, outputs: sig.outputs };
    }
    const report = await validateModel(baseline, { policy: { smokeRun: false } });
    return report.signature ?? `${baseline} has no signature modelship can read (format ${report.format})`;
  } catch (error) {
    // A FileReadError names the path already: "baseline report /x.json is a named pipe (FIFO), …".
    return error instanceof FileReadError
      ? error.message
      : `${baseline} cannot be read: ${errorMessage(error)}`;
  }
}

function applyPolicy(report: ValidationReport, policy: ValidationPolicy): void {
  const findings = report.findings;
  if (policy.formats) {
    for (const artifact of report.artifacts) {
      if (artifact.format !== "data" && !policy.formats.includes(artifact.format)) {
        findings.push({
          severity: "error",
          code: "POLICY_FORMAT_NOT_ALLOWED",
          message: `${artifact.file} is ${artifact.format}, which validation.formats does not allow (${policy.formats.join(", ")})`,
          file: artifact.file,
        });
      }
    }
  }
  const total = report.files.reduce((n, f) => n + f.size, 0);
  if (policy.maxSizeBytes !== undefined && total > policy.maxSizeBytes) {
    findings.push({
      severity: "error",
      code: "POLICY_MODEL_TOO_LARGE",
      message: `the model's files total ${total} bytes, above validation.maxSize (${policy.maxSizeBytes} bytes)`,
    });
  }
  const present = new Set(report.files.map((f) => f.path));
  for (const required of policy.requiredFiles) {
    if (!present.has(required.replace(/^\.\//, ""))) {
      findings.push({
        severity: "error",
        code: "POLICY_REQUIRED_FILE_MISSING",
        message: `${required} is required by validation.requiredFiles but is not in the model`,
        key: required,
      });
    }
  }
}

async function hashFiles(walked: WalkResult, findings: Finding[]) {
  const files: FileEntry[] = [];
  const readable: (WalkedFile & { size: number })[] = [];
  for (const file of walked.files) {
    try {
      const { sha256, size } = await sha256File(file.absolutePath);
      files.push({ path: file.path, size, sha256 });
      readable.push({ ...file, size });
    } catch (error) {
      findings.push({
        severity: "error",
        code: "FILE_UNREADABLE",
        message: `${file.path} cannot be read: ${errorMessage(error)}`,
        file: file.path,
      });
    }
  }
  return { files, readable };
}

/** Validate a model file or directory. Only programming errors throw; bad content becomes findings. */
export async function validateModel(path: string, options: ValidateOptions = {}): Promise<ValidationReport> {
  const policy: ValidationPolicy = { ...DEFAULT_POLICY, ...options.policy };
  let walked: WalkResult;
  let isDir: boolean;
  try {
    isDir = (await stat(path)).isDirectory();
    walked = await walkModel(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" || code === "ENOTDIR" ? "does not exist" : `cannot be read (${errorMessage(error)})`;
    return rejected(path, {
      severity: "error",
      code: "MODEL_NOT_FOUND",
      message: `model path ${path} ${why}; check the model path setting`,
    });
  }
  const findings: Finding[] = [...walked.findings];
  const { files, readable } = await hashFiles(walked, findings);
  const report: ValidationReport = {
    path,
    accepted: false,
    format: "unknown",
    digest: modelDigest(files),
    files,
    findings,
    artifacts: [],
  };
  if (files.length === 0 && walked.files.length === 0) {
    if (isDir) {
      findings.push({
        severity: "error",
        code: "MODEL_EMPTY",
        message: `model directory ${path} holds no files; point the model path at the directory with the model file`,
      });
    }
    return report;
  }

  const inspected: InspectedFile[] = [];
  for (const file of readable) inspected.push(await inspectFile(file, policy, findings));
  report.artifacts = inspected.map(({ onnx: _onnx, ...artifact }) => artifact);

  const container = isDir
    ? await inspectContainer(
        readable.map((f) => f.path),
        (p) => join(walked.root, p),
        findings,
      )
    : undefined;
  if (container) {
    const { signature: _signature, ...rest } = container;
    report.container = rest;
  }
  const modelFiles = inspected.filter((a) => a.format !== "data");
  const primary = PRIORITY.find((format) => modelFiles.some((a) => a.format === format));
  report.format = container?.format ?? primary ?? "unknown";
  if (report.format === "unknown" && !findings.some((f) => f.severity === "error")) {
    findings.push({
      severity: "error",
      code: "MODEL_FORMAT_UNKNOWN",
      message: isDir
        ? `no model file recognised in ${path} (looked for ONNX, safetensors, GGUF, PyTorch, pickle, NumPy, MLflow, Hugging Face, SavedModel)`
        : `${path} is not a model format modelship recognises (ONNX, safetensors, GGUF, PyTorch, pickle, NumPy)`,
    });
  }

  const onnxFiles = inspected.filter(
    (a): a is InspectedFile & { onnx: NonNullable<InspectedFile["onnx"]> } => a.onnx !== undefined,
  );
  if (onnxFiles.length > 1) {
    findings.push({
      severity: "error",
      code: "ONNX_MULTIPLE_MODELS",
      message: `found ${onnxFiles.length} ONNX models (${onnxFiles.map((c) => c.file).join(", ")}); keep one per model directory or point the model path at the file`,
    });
  }
  const [onnx] = onnxFiles;
  if (onnx) {
    report.onnx = onnx.onnx.summary;
    report.signature = { inputs: onnx.onnx.summary.inputs, outputs: onnx.onnx.summary.outputs };
    const checks = checkOnnx(onnx.file, onnx.onnx, new Set(files.map((f) => f.path)));
    findings.push(...checks);
    const absolute = readable.find((f) => f.path === onnx.file)?.absolutePath;
    if (
      policy.smokeRun &&
      absolute &&
      onnxFiles.length === 1 &&
      !checks.some((f) => f.severity === "error")
    ) {
      const smoke = await smokeRun(absolute, onnx.file, report.signature, {
        ...(policy.smoke ? { options: policy.smoke } : {}),
        modelBytes: files.reduce((n, f) => n + f.size, 0),
        nodes: onnx.onnx.nodes,
      });
      findings.push(...smoke.findings);
      if (smoke.result) report.smoke = smoke.result;
    }
  } else if (container?.signature) {
    report.signature = container.signature;
  }

  if (options.baseline) {
    const baseline = await readBaseline(options.baseline);
    if (typeof baseline === "string") {
      findings.push({
        severity: "warning",
        code: "BASELINE_UNREADABLE",
        message: `signature compatibility not checked: ${baseline}`,
      });
    } else if (!report.signature) {
      findings.push({
        severity: "warning",
        code: "SIGNATURE_UNKNOWN",
        message:
          "signature compatibility not checked: this model's format has no signature modelship can read",
      });
    } else {
      const changes = compareSignatures(baseline, report.signature);
      report.compatibility = { baseline: options.baseline, changes };
      for (const change of changes) {
        findings.push({
          severity: change.breaking ? (policy.allowBreakingChanges ? "warning" : "error") : "info",
          code: change.code,
          message: `${change.message}${change.breaking && !policy.allowBreakingChanges ? " compared with the stable model; clients would break (set validation.allowBreakingChanges: true to ship it anyway)" : ""}`,
          key: change.key,
        });
      }
    }
  }

  applyPolicy(report, policy);
  report.accepted = !findings.some((f) => f.severity === "error");
  return report;
}
