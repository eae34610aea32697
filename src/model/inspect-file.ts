// One file of a model: detect its format by content (falling back to the format its name claims), run
// that format's parser, and turn what it finds into findings. Never throws.
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { errorMessage } from "../util/errors.js";
import { ByteReader } from "./byte-reader.js";
import type { Finding } from "./findings.js";
import { type GgufSummary, inspectGguf } from "./gguf.js";
import { inspectNpy, isNpyMagic } from "./npy.js";
import { inspectOnnx, type OnnxInspection } from "./onnx-inspect.js";
import { type PickleWalk, walkPickle } from "./pickle.js";
import { isPickle, LOADABLE, PICKLE_OPCODES } from "./pickle-detect.js";
import { judgeArray, judgePickle, type PickleSummary, summary } from "./pickle-findings.js";
import type { FileFormat, ValidationPolicy } from "./policy.js";
import { inspectSafetensors, type SafetensorsSummary } from "./safetensors.js";
import { isTarHeader, walkLegacyTar } from "./torch-tar.js";
import { inspectZip } from "./torch-zip.js";

export interface Artifact {
  file: string;
  /** "data": not a model format (tokenizer, README, config). */
  format: FileFormat | "data";
  safetensors?: SafetensorsSummary;
  gguf?: GgufSummary;
  pickle?: PickleSummary;
}

export interface InspectedFile extends Artifact {
  onnx?: OnnxInspection;
}

// Protobufs cannot exceed 2 GiB; larger ONNX models must use external data files.
const PROTOBUF_LIMIT = 2 ** 31 - 1;
// Files not named *.onnx are only tried as ONNX when small, so a directory of big weights is not read twice.
const SNIFF_LIMIT = 64 * 1024 * 1024;

type Claim = "onnx" | "safetensors" | "gguf" | "pickle" | "pytorch" | "numpy" | undefined;

function claimOf(path: string): Claim {
  const name = path.toLowerCase();
  if (name.endsWith(".onnx")) return "onnx";
  if (name.endsWith(".safetensors")) return "safetensors";
  if (name.endsWith(".gguf")) return "gguf";
  if (/\.(pkl|pickle|joblib)$/.test(name)) return "pickle";
  if (/\.(pt|pth|ckpt)$/.test(name)) return "pytorch";
  if (/\.(npy|npz)$/.test(name)) return "numpy";
  return undefined;
}

type Sniff = "gguf" | "zip" | "pickle" | "safetensors" | "npy" | "onnx?" | undefined;

export function sniff(head: Uint8Array, size: number): Sniff {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x47 && b(1) === 0x47 && b(2) === 0x55 && b(3) === 0x46) return "gguf";
  if (b(0) === 0x50 && b(1) === 0x4b && b(2) === 0x03 && b(3) === 0x04) return "zip";
  if (isNpyMagic(head)) return "npy";
  // safe_open accepts JSON whitespace before the header's "{" (off-spec, warned by the parser).
  let brace = 8;
  while (brace < head.length && [0x20, 0x09, 0x0a, 0x0d].includes(b(brace))) brace++;
  if (head.length > brace && b(brace) === 0x7b) {
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
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, 512, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** Whether an unreadable zip names a torch checkpoint's data.pkl (miniz matches names ignoring case). */
async function mentionsDataPkl(path: string): Promise<boolean> {
  const needle = "data.pkl";
  let carry = "";
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const text = carry + (chunk as Buffer).toString("latin1").toLowerCase();
    if (text.includes(needle)) return true;
    carry = text.slice(-(needle.length - 1));
  }
  return false;
}

interface FileContext {
  file: string;
  absolutePath: string;
  size: number;
  /** The first 512 bytes. */
  first: Uint8Array;
  claim: Claim;
  loadable: boolean;
  policy: ValidationPolicy;
  findings: Finding[];
}

/**
 * Reads the file the way torch.load (tar, then pickle) and pickle.load do when they are pointed at it without
 * a PROTO byte to go by, and judges what they would unpickle. `strict`: the file must be a pickle (named
 * .pkl, or starting with PROTO), so a walk that breaks is malformed rather than "no pickle".
 * Returns undefined when neither reader would find a pickle in it.
 */
async function pickleView(
  ctx: FileContext,
  strict: boolean,
): Promise<{ format: "pickle" | "pytorch"; pickle: PickleSummary } | undefined> {
  const { file, absolutePath, size, first, policy, findings } = ctx;
  const reader = () => ByteReader.ofFile(absolutePath, size);
  const walks: PickleWalk[] = [];
  let tar = false;
  if (isTarHeader(first)) {
    const legacy = await walkLegacyTar(reader());
    for (const p of legacy.pickles) findings.push(...judgePickle(p.walk, file, policy, p.member));
    walks.push(...legacy.pickles.map((p) => p.walk));
    tar = legacy.pickles.length > 0;
    if (tar && legacy.error) {
      findings.push({
        severity: "error",
        code: "PYTORCH_TAR_INVALID",
        message: `${file} is a legacy torch.save tar archive that cannot be read to the end (${legacy.error}); torch.load falls back to reading it as a pickle, so it cannot be checked`,
        file,
      });
    }
  }
  strict &&= !tar;
  if (strict || PICKLE_OPCODES.has(first[0] ?? -1)) {
    // A whole file may be read by joblib.load, which takes numpy arrays' raw bytes from inside the
    // stream; zip and tar members are only ever read by pickle.load.
    const walk = await walkPickle(reader(), { joblib: true });
    if (strict || isPickle(walk, ctx.loadable)) {
      findings.push(...judgePickle(walk, file, policy));
      walks.push(walk);
      const torch = tar || walk.legacyTorch || ctx.claim === "pytorch";
      return { format: torch ? "pytorch" : "pickle", pickle: summary(walks) };
    }
  }
  return tar ? { format: "pytorch", pickle: summary(walks) } : undefined;
}

/** A file that parsed as `format` and that a pickle loader, picking by its name, would read as a pickle. */
async function polyglot(ctx: FileContext, format: string): Promise<PickleSummary | undefined> {
  if (!ctx.loadable) return undefined;
  const view = await pickleView(ctx, false);
  if (!view) return undefined;
  ctx.findings.push({
    severity: "error",
    code: "FORMAT_POLYGLOT",
    message: `${ctx.file} is valid ${format} and also a pickle, which torch.load / pickle.load read by its name; re-export it`,
    file: ctx.file,
  });
  return view.pickle;
}

async function inspectZipFile(ctx: FileContext): Promise<InspectedFile> {
  const { file, absolutePath, claim, policy, findings } = ctx;
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
  for (const a of zip.arrays) findings.push(...judgeArray(a.npy, file, policy, a.member));
  const named = claim === "pytorch" || claim === "pickle";
  if (zip.error) {
    // torch's zip reader (miniz) may read an archive yauzl refuses, and then unpickle what was not checked.
    const checkpoint = named || ctx.loadable || (await mentionsDataPkl(absolutePath).catch(() => true));
    findings.push({
      severity: checkpoint ? "error" : "warning",
      code: "ZIP_INVALID",
      message: `${file} ${checkpoint ? "looks like a PyTorch checkpoint (by its name or a data.pkl member name inside) but " : ""}cannot be read as a zip archive: ${zip.error}${checkpoint ? "; torch.load may still read it, and what it would unpickle is unchecked" : ""}`,
      file,
    });
    return { file, format: checkpoint ? "pytorch" : "data" };
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
    return { file, format: "pytorch", pickle: summary(zip.pickles.map((p) => p.walk)) };
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
  // A zip of pickles or arrays (np.savez, or pickles zipped for shipping): what a loader would read inside is
  // checked above; what cannot be read here (nested archives, encrypted members) would go unchecked.
  const walks = [
    ...zip.pickles.map((p) => p.walk),
    ...zip.arrays.flatMap((a) => (a.npy.pickle ? [a.npy.pickle] : [])),
  ];
  if (zip.pickles.length === 0 && zip.arrays.length === 0 && claim !== "numpy")
    return { file, format: "data" };
  for (const u of zip.unchecked) {
    findings.push({
      severity: "error",
      code: "ZIP_MEMBER_UNCHECKED",
      message: `${file} holds ${JSON.stringify(u.member)}, which a loader would read but which cannot be checked (${u.why}); extract it and validate it on its own`,
      file,
      key: u.member,
    });
  }
  const format = zip.pickles.length > 0 && claim !== "numpy" ? "pickle" : "numpy";
  return { file, format, ...(walks.length > 0 ? { pickle: summary(walks) } : {}) };
}

/**
 * Never throws. Bad content is each reader's finding; should a reader still fail on some input (a bug, such
 * as a number it did not expect), the file is rejected with FILE_UNCHECKED rather than crashing validate or
 * passing unchecked. Errors of the file system (the file vanished, EIO) are FILE_UNREADABLE.
 */
export async function inspectFile(
  entry: { path: string; absolutePath: string; size: number },
  policy: ValidationPolicy,
  findings: Finding[],
): Promise<InspectedFile> {
  try {
    return await inspectContent(entry, policy, findings);
  } catch (error) {
    const file = entry.path;
    const io = (error as NodeJS.ErrnoException).syscall !== undefined;
    findings.push({
      severity: "error",
      code: io ? "FILE_UNREADABLE" : "FILE_UNCHECKED",
      message: io
        ? `${file} cannot be read: ${errorMessage(error)}`
        : `${file} could not be checked: its reader failed (${errorMessage(error)}), a modelship bug worth reporting with the file; it is rejected rather than passed unchecked`,
      file,
    });
    return { file, format: claimOf(file) ?? "data" };
  }
}

async function inspectContent(
  entry: { path: string; absolutePath: string; size: number },
  policy: ValidationPolicy,
  findings: Finding[],
): Promise<InspectedFile> {
  const { path: file, absolutePath, size } = entry;
  const claim = claimOf(file);
  let first: Uint8Array;
  try {
    first = size > 0 ? await head(absolutePath) : new Uint8Array(0);
  } catch (error) {
    findings.push({
      severity: "error",
      code: "FILE_UNREADABLE",
      message: `${file} cannot be read: ${errorMessage(error)}`,
      file,
    });
    return { file, format: "data" };
  }
  const sniffed: Sniff = size > 0 ? sniff(first, size) : undefined;
  const kind: Sniff | Claim = sniffed === "onnx?" && claim && claim !== "onnx" ? claim : (sniffed ?? claim);
  const fits: Record<string, Sniff[]> = {
    onnx: ["onnx?"],
    safetensors: ["safetensors", "onnx?"],
    gguf: ["gguf"],
    pickle: ["pickle", "zip", "onnx?"],
    pytorch: ["pickle", "zip", "onnx?"],
    numpy: ["npy", "zip"],
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
  const ctx: FileContext = {
    file,
    absolutePath,
    size,
    first,
    claim,
    // np.load(..., allow_pickle=True) hands a file without NumPy or zip magic to pickle.load.
    loadable: LOADABLE.test(file.toLowerCase()) || claim === "numpy",
    policy,
    findings,
  };
  const withPickle = (pickle: PickleSummary | undefined) => (pickle ? { pickle } : {});

  if (kind === "gguf") {
    try {
      const gguf = await inspectGguf(reader());
      return { file, format: "gguf", gguf, ...withPickle(await polyglot(ctx, "GGUF")) };
    } catch (error) {
      const offset = (error as { offset?: number }).offset;
      const key = (error as { key?: string }).key;
      findings.push({
        severity: "error",
        code: "GGUF_INVALID",
        message: `${file} is not a valid GGUF file: ${errorMessage(error)}`,
        file,
        ...(offset !== undefined ? { offset } : {}),
        ...(key !== undefined ? { key } : {}),
      });
      return { file, format: "gguf", ...withPickle(await polyglot(ctx, "GGUF")) };
    }
  }
  if (kind === "safetensors") {
    const safetensors = await inspectSafetensors(reader(), (f) =>
      findings.push({ severity: "error", ...f, message: `${file}: ${f.message}`, file }),
    );
    const pickle = await polyglot(ctx, "safetensors");
    return { file, format: "safetensors", ...(safetensors ? { safetensors } : {}), ...withPickle(pickle) };
  }
  // torch.load reads a zip as a zip whatever else it is; pickle.load fails on one at its first opcode.
  if (kind === "zip") return inspectZipFile(ctx);
  if (kind === "npy") {
    const npy = await inspectNpy(reader());
    findings.push(...judgeArray(npy, file, policy));
    return { file, format: "numpy", ...(npy.pickle ? { pickle: summary([npy.pickle]) } : {}) };
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
      return { file, format: "onnx", onnx, ...withPickle(await polyglot(ctx, "ONNX")) };
    } catch (error) {
      if (!named) return { file, format: "data" };
      findings.push({
        severity: "error",
        code: "ONNX_PARSE_ERROR",
        message: `${file} is named .onnx but cannot be read as an ONNX model: ${errorMessage(error)}. Re-export it (torch.onnx.export, tf2onnx, skl2onnx) and check it with onnx.checker.check_model`,
        file,
      });
      return { file, format: "onnx" };
    }
  }
  // Left: files starting with PROTO, named like a pickle or checkpoint, legacy tars, and everything else,
  // which may still be a protocol 0/1 pickle. A .pkl or a PROTO start must parse as a pickle.
  const view = await pickleView(ctx, kind === "pickle");
  if (view) return { file, format: view.format, pickle: view.pickle };
  // A .pt/.pth/.ckpt that is no pickle and no tar: torch.load's last hope is a zip.
  if (kind === "pytorch") return inspectZipFile(ctx);
  if (kind === "numpy") {
    findings.push({
      severity: "error",
      code: "NUMPY_INVALID",
      message: `${file} is named like a NumPy file but is neither a .npy array, an .npz archive nor a pickle np.load could fall back to`,
      file,
    });
    return { file, format: "numpy" };
  }
  if (file === "saved_model.pb" || file.endsWith("/saved_model.pb")) return { file, format: "savedmodel" };
  return { file, format: "data" };
}
