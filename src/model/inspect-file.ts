// One file of a model: detect its format by content (falling back to the format its name claims), run
// that format's parser, and turn what it finds into findings. Never throws for bad content.
import { open, readFile } from "node:fs/promises";
import { ByteReader } from "./byte-reader.js";
import type { Finding } from "./findings.js";
import { type GgufSummary, inspectGguf } from "./gguf.js";
import { inspectOnnx, type OnnxInspection } from "./onnx-inspect.js";
import { type PickleWalk, walkPickle } from "./pickle.js";
import { judgeGlobal } from "./pickle-policy.js";
import type { FileFormat, ValidationPolicy } from "./policy.js";
import { inspectSafetensors, type SafetensorsSummary } from "./safetensors.js";
import { inspectZip } from "./torch-zip.js";

export interface Artifact {
  file: string;
  /** "data": not a model format (tokenizer, README, config). */
  format: FileFormat | "data";
  safetensors?: SafetensorsSummary;
  gguf?: GgufSummary;
  pickle?: { protocol: number; globals: string[] };
}

export interface InspectedFile extends Artifact {
  onnx?: OnnxInspection;
}

// Protobufs cannot exceed 2 GiB; larger ONNX models must use external data files.
const PROTOBUF_LIMIT = 2 ** 31 - 1;
// Files not named *.onnx are only tried as ONNX when small, so a directory of big weights is not read twice.
const SNIFF_LIMIT = 64 * 1024 * 1024;

type Claim = "onnx" | "safetensors" | "gguf" | "pickle" | "pytorch" | undefined;

function claimOf(path: string): Claim {
  const name = path.toLowerCase();
  if (name.endsWith(".onnx")) return "onnx";
  if (name.endsWith(".safetensors")) return "safetensors";
  if (name.endsWith(".gguf")) return "gguf";
  if (/\.(pkl|pickle|joblib)$/.test(name)) return "pickle";
  if (/\.(pt|pth|ckpt)$/.test(name)) return "pytorch";
  return undefined;
}

type Sniff = "gguf" | "zip" | "pickle" | "safetensors" | "onnx?" | undefined;

export function sniff(head: Uint8Array, size: number): Sniff {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x47 && b(1) === 0x47 && b(2) === 0x55 && b(3) === 0x46) return "gguf";
  if (b(0) === 0x50 && b(1) === 0x4b && b(2) === 0x03 && b(3) === 0x04) return "zip";
  if (head.length >= 9 && b(8) === 0x7b) {
    const length = Buffer.from(head.buffer, head.byteOffset, 8).readBigUInt64LE(0);
    if (length >= 2n && length <= BigInt(size - 8)) return "safetensors";
  }
  if (b(0) === 0x80 && b(1) >= 2 && b(1) <= 5) return "pickle";
  if (b(0) === 0x08) return "onnx?";
  return undefined;
}

async function head(path: string): Promise<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(16);
    const { bytesRead } = await handle.read(buffer, 0, 16, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Findings for one pickle walk; `member` names the archive member when the pickle sits in a zip. */
export function judgePickle(
  walk: PickleWalk,
  file: string,
  policy: ValidationPolicy,
  member?: string,
): Finding[] {
  const where = member ? `${file} (${member})` : file;
  const findings: Finding[] = [];
  const extra = member ? { key: member } : {};
  for (const g of walk.globals) {
    const global = `${g.module}.${g.name}`;
    const { verdict, why } = judgeGlobal(g.module, g.name, policy.allowGlobals);
    if (verdict === "dangerous") {
      findings.push({
        severity: "error",
        code: "PICKLE_GLOBAL_DANGEROUS",
        message: `${where} imports ${global} (${g.opcode} at byte ${g.offset}), which ${why}; loading this file runs attacker-chosen code. Re-save the weights as safetensors`,
        file,
        global,
        offset: g.offset,
        ...extra,
      });
    } else if (verdict === "unknown") {
      const strict = policy.pickle === "strict";
      findings.push({
        severity: strict ? "error" : "warning",
        code: "PICKLE_GLOBAL_UNKNOWN",
        message: `${where} imports ${global} (${g.opcode} at byte ${g.offset}), which is ${why}; review it and add it to validation.allowGlobals${strict ? " (rejected under validation.pickle: strict)" : ""}`,
        file,
        global,
        offset: g.offset,
        ...extra,
      });
    }
  }
  for (const ext of walk.extensions) {
    findings.push({
      severity: policy.pickle === "strict" ? "error" : "warning",
      code: "PICKLE_EXTENSION_CODE",
      message: `${where} imports a global through copyreg extension code ${ext.code}, which cannot be checked`,
      file,
      offset: ext.offset,
      ...extra,
    });
  }
  if (walk.error) {
    const joblib = walk.globals.some((g) => g.name === "NumpyArrayWrapper");
    findings.push({
      severity: "error",
      code: "PICKLE_MALFORMED",
      message: `${where} is not a valid pickle: ${walk.error.message}${joblib ? " (joblib files with inline numpy arrays are not supported: save with joblib.dump(..., compress=0) into .npy + safetensors, or skl2onnx)" : ""}`,
      file,
      offset: walk.error.offset,
      ...extra,
    });
  } else if (walk.trailingBytes > 0 && !walk.legacyTorch) {
    findings.push({
      severity: "warning",
      code: "PICKLE_TRAILING_DATA",
      message: `${where} has ${walk.trailingBytes} bytes after the last pickle that no loader reads`,
      file,
      ...extra,
    });
  }
  return findings;
}

export async function inspectFile(
  entry: { path: string; absolutePath: string; size: number },
  policy: ValidationPolicy,
  findings: Finding[],
): Promise<InspectedFile> {
  const { path: file, absolutePath, size } = entry;
  const claim = claimOf(file);
  let sniffed: Sniff;
  try {
    sniffed = size > 0 ? sniff(await head(absolutePath), size) : undefined;
  } catch (error) {
    findings.push({
      severity: "error",
      code: "FILE_UNREADABLE",
      message: `${file} cannot be read: ${message(error)}`,
      file,
    });
    return { file, format: "data" };
  }
  const kind: Sniff | Claim = sniffed === "onnx?" && claim && claim !== "onnx" ? claim : (sniffed ?? claim);
  const fits: Record<string, Sniff[]> = {
    onnx: ["onnx?"],
    safetensors: ["safetensors", "onnx?"],
    gguf: ["gguf"],
    pickle: ["pickle", "zip", "onnx?"],
    pytorch: ["pickle", "zip", "onnx?"],
  };
  if (claim && sniffed && !fits[claim]?.includes(sniffed)) {
    // Loaders pick by name: a .safetensors that is really a pickle would reach a pickle loader somewhere.
    findings.push({
      severity: "error",
      code: "FORMAT_MISMATCH",
      message: `${file} is named like ${claim} but its content is ${sniffed}; rename it or re-export it`,
      file,
    });
  }
  const reader = () => ByteReader.ofFile(absolutePath, size);

  if (kind === "gguf") {
    try {
      const gguf = await inspectGguf(reader());
      return { file, format: "gguf", gguf };
    } catch (error) {
      const offset = (error as { offset?: number }).offset;
      const key = (error as { key?: string }).key;
      findings.push({
        severity: "error",
        code: "GGUF_INVALID",
        message: `${file} is not a valid GGUF file: ${message(error)}`,
        file,
        ...(offset !== undefined ? { offset } : {}),
        ...(key !== undefined ? { key } : {}),
      });
      return { file, format: "gguf" };
    }
  }
  if (kind === "safetensors") {
    const safetensors = await inspectSafetensors(reader(), (f) =>
      findings.push({ severity: "error", ...f, message: `${file}: ${f.message}`, file }),
    );
    return { file, format: "safetensors", ...(safetensors ? { safetensors } : {}) };
  }
  if (kind === "zip" || (kind === "pytorch" && sniffed === undefined)) {
    const zip = await inspectZip({ path: absolutePath });
    for (const member of zip.unsafeMembers) {
      findings.push({
        severity: "error",
        code: "ZIP_MEMBER_PATH_UNSAFE",
        message: `${file} holds member ${JSON.stringify(member)}, which would be written outside the directory it is extracted to`,
        file,
        key: member,
      });
    }
    for (const p of zip.pickles) findings.push(...judgePickle(p.walk, file, policy, p.member));
    const named = claim === "pytorch" || claim === "pickle";
    if (zip.error) {
      findings.push({
        severity: named ? "error" : "warning",
        code: "ZIP_INVALID",
        message: `${file} ${named ? "is named like a PyTorch checkpoint but " : ""}cannot be read as a zip archive: ${zip.error}`,
        file,
      });
      return { file, format: named ? "pytorch" : "data" };
    }
    if (zip.dataPkl !== undefined) {
      if (zip.torchScript) {
        findings.push({
          severity: "info",
          code: "PYTORCH_TORCHSCRIPT",
          message: `${file} is a TorchScript archive (code/ holds TorchScript, run by torch.jit.load)`,
          file,
        });
      }
      const globals = zip.pickles.flatMap((p) => p.walk.globals.map((g) => `${g.module}.${g.name}`));
      return {
        file,
        format: "pytorch",
        pickle: { protocol: Math.max(0, ...zip.pickles.map((p) => p.walk.protocol)), globals },
      };
    }
    if (named) {
      findings.push({
        severity: "error",
        code: "PYTORCH_NO_DATA_PKL",
        message: `${file} is a zip archive without */data.pkl, so it is not a PyTorch checkpoint`,
        file,
      });
      return { file, format: "pytorch" };
    }
    return { file, format: "data" };
  }
  if (kind === "pickle" || kind === "pytorch") {
    const walk = await walkPickle(reader());
    findings.push(...judgePickle(walk, file, policy));
    return {
      file,
      format: walk.legacyTorch || claim === "pytorch" ? "pytorch" : "pickle",
      pickle: { protocol: walk.protocol, globals: walk.globals.map((g) => `${g.module}.${g.name}`) },
    };
  }
  if (kind === "onnx?" || kind === "onnx") {
    const named = claim === "onnx";
    if (named && size > PROTOBUF_LIMIT) {
      findings.push({
        severity: "error",
        code: "ONNX_TOO_LARGE",
        message: `${file} is ${size} bytes; a protobuf cannot exceed 2 GiB. Save the model with external data (onnx.save(..., save_as_external_data=True))`,
        file,
      });
      return { file, format: "onnx" };
    }
    if (!named && size > SNIFF_LIMIT) return { file, format: "data" };
    try {
      const onnx = inspectOnnx(await readFile(absolutePath));
      if (!named) {
        findings.push({
          severity: "warning",
          code: "ONNX_FILE_EXTENSION",
          message: `${file} holds an ONNX model but is not named *.onnx; the model server only looks for *.onnx files`,
          file,
        });
      }
      return { file, format: "onnx", onnx };
    } catch (error) {
      if (!named) return { file, format: "data" };
      findings.push({
        severity: "error",
        code: "ONNX_PARSE_ERROR",
        message: `${file} is named .onnx but cannot be read as an ONNX model: ${message(error)}. Re-export it (torch.onnx.export, tf2onnx, skl2onnx) and check it with onnx.checker.check_model`,
        file,
      });
      return { file, format: "onnx" };
    }
  }
  if (file === "saved_model.pb" || file.endsWith("/saved_model.pb")) return { file, format: "savedmodel" };
  return { file, format: "data" };
}
