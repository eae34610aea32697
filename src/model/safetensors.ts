// safetensors: an 8-byte little-endian header length, a JSON header, then the tensor bytes. Only the
// header is read; every length is checked against the file size before anything is allocated for it.
// The verdict follows the reference library (safetensors 0.8.0's safe_open): what it loads is accepted,
// with a warning where the file is off the written spec; what it refuses is rejected.

import { errorMessage } from "../util/errors.js";
import { type ByteReader, checkedLength } from "./byte-reader.js";
import { type Finding, FormatError } from "./findings.js";
import { type JsonValue, jsonUsize, parseStrictJson } from "./strict-json.js";

export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** Bits per element, for every dtype the reference library knows (its Dtype enum). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F8_E4M3FNUZ: 8,
  F8_E5M2FNUZ: 8,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  C64: 64,
  F64: 64,
  I64: 64,
  U64: 64,
};

const TENSOR_FIELDS = new Set(["dtype", "shape", "data_offsets"]);

// The reference computes sizes in usize and refuses a shape whose product overflows it.
const USIZE_LIMIT = 2n ** 64n;

export interface SafetensorsSummary {
  tensors: number;
  headerBytes: number;
  dtypes: string[];
  metadata?: Record<string, string>;
}

type Emit = (f: Omit<Finding, "file" | "severity"> & { severity?: Finding["severity"] }) => void;

interface TensorInfo {
  key: string;
  dtype: string;
  shape: bigint[];
  begin: bigint;
  end: bigint;
}

/** Reads one tensor entry as serde reads TensorInfo: an object with the three fields, or a 3-array. */
function tensorInfo(key: string, value: JsonValue, offSpec: (why: string) => void): TensorInfo | string {
  let fields: Partial<Record<"dtype" | "shape" | "data_offsets", JsonValue>> = {};
  if (value.type === "array") {
    if (value.items.length !== 3) return `is an array of ${value.items.length} values, not an object`;
    const [dtype, shape, data_offsets] = value.items;
    fields = { dtype, shape, data_offsets };
    offSpec("is a [dtype, shape, data_offsets] array, not an object");
  } else if (value.type === "object") {
    for (const [name, field] of value.entries) {
      if (name !== "dtype" && name !== "shape" && name !== "data_offsets") continue; // ignored, as serde does
      if (fields[name]) return `has two "${name}" fields; readers would disagree on which one counts`;
      fields[name] = field;
    }
  } else return "is not an object with dtype, shape and data_offsets";
  const missing = (["dtype", "shape", "data_offsets"] as const).filter((f) => !fields[f]);
  if (missing.length > 0) return `has no ${missing.join(", ")}`;
  let dtype: string | undefined;
  const d = fields.dtype;
  if (d?.type === "string") dtype = d.value;
  else if (d?.type === "object" && d.entries.length === 1 && d.entries[0]?.[1].type === "literal") {
    // serde also reads an enum variant written as {"F32": null}.
    const [name, unit] = d.entries[0];
    if (unit.type === "literal" && unit.value === null) {
      dtype = name;
      offSpec(`writes its dtype as {"${name}": null}`);
    }
  }
  if (dtype === undefined || DTYPE_BITS[dtype] === undefined)
    return `unknown dtype ${dtype ?? "(not a string)"}`;
  const shape = fields.shape?.type === "array" ? fields.shape.items.map(jsonUsize) : undefined;
  if (!shape || shape.some((n) => n === undefined))
    return "shape must be a list of non-negative integers (no fractions, exponents or signs)";
  const offsets =
    fields.data_offsets?.type === "array" ? fields.data_offsets.items.map(jsonUsize) : undefined;
  if (offsets?.length !== 2 || offsets.some((n) => n === undefined))
    return "data_offsets must be [begin, end], two non-negative integers";
  return {
    key,
    dtype,
    shape: shape as bigint[],
    begin: offsets[0] as bigint,
    end: offsets[1] as bigint,
  };
}

/** Findings use codes SAFETENSORS_*; returns a summary when the header could be read at all. */
export async function inspectSafetensors(
  reader: ByteReader,
  emit: Emit,
): Promise<SafetensorsSummary | undefined> {
  let header: JsonValue;
  let headerBytes: number;
  let text: string;
  try {
    if (reader.size < 8)
      throw new FormatError(`file is ${reader.size} bytes, shorter than the 8-byte header length`, 0);
    const length = await reader.u64le();
    if (length > BigInt(SAFETENSORS_MAX_HEADER)) {
      emit({
        code: "SAFETENSORS_HEADER_TOO_LARGE",
        message: `header length ${length} is above the 100 MB limit`,
        offset: 0,
      });
      return undefined;
    }
    headerBytes = checkedLength(length, reader, "header length");
    // ignoreBOM keeps a byte-order mark in the text: the reference refuses one, so must we.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(await reader.bytes(headerBytes));
    // Fields of a tensor entry other than these three are ignored by the reference; they are only checked.
    header = parseStrictJson(
      text,
      (path) => path.length !== 2 || path[0] === "__metadata__" || TENSOR_FIELDS.has(path[1] as string),
    );
  } catch (error) {
    const offset = error instanceof FormatError ? (error.offset ?? 8) : 8;
    emit({
      code: "SAFETENSORS_HEADER_INVALID",
      message: `header cannot be read: ${errorMessage(error)}`,
      offset,
    });
    return undefined;
  } finally {
    reader.dispose();
  }
  if (header.type !== "object") {
    emit({ code: "SAFETENSORS_HEADER_INVALID", message: "header is not a JSON object", offset: 8 });
    return undefined;
  }
  const warn = (message: string, key?: string) =>
    emit({
      severity: "warning",
      code: "SAFETENSORS_OFF_SPEC",
      message,
      ...(key !== undefined ? { key } : {}),
    });
  // The spec says the header starts with '{' and is padded with spaces; the reference loads any JSON
  // whitespace around it, so such files are real and load, but stricter readers may refuse them.
  if (!text.startsWith("{"))
    warn(
      "header begins with whitespace; the format says it starts with '{' (the reference library loads it)",
    );
  // Only JSON whitespace can follow the parsed value; slicing keeps this linear on a hostile header.
  if (/[\t\r\n]/.test(text.slice(text.trimEnd().length)))
    warn(
      "header is padded with tabs or line breaks; the format pads with spaces only (the reference library loads it)",
    );

  const dataBytes = BigInt(reader.size - 8 - headerBytes);
  const dtypes = new Set<string>();
  let metadata: Record<string, string> | undefined;
  let metadataSeen = false;
  let errors = 0;
  const bad = (key: string, message: string, code = "SAFETENSORS_TENSOR_INVALID") => {
    // One hostile header can hold millions of bad entries; the first few say enough.
    if (++errors <= 20) emit({ code, message: `${JSON.stringify(key)}: ${message}`, key });
  };
  const duplicate = (key: string, where: string) =>
    emit({
      severity: "warning",
      code: "SAFETENSORS_DUPLICATE_KEY",
      message: `${JSON.stringify(key)} appears more than once ${where}; the reference library keeps the last one, a reader that keeps the first would see other weights`,
      key,
    });
  const tensors = new Map<string, JsonValue>();
  for (const [key, value] of header.entries) {
    if (key === "__metadata__") {
      if (metadataSeen) {
        bad(key, "appears twice (the reference library refuses the file)", "SAFETENSORS_METADATA_INVALID");
        continue;
      }
      metadataSeen = true;
      if (value.type === "literal" && value.value === null) continue; // an absent map, as serde reads it
      if (value.type !== "object" || value.entries.some(([, v]) => v.type !== "string")) {
        bad(key, "must map strings to strings", "SAFETENSORS_METADATA_INVALID");
        continue;
      }
      metadata = {};
      for (const [name, v] of value.entries) {
        if (Object.hasOwn(metadata, name)) duplicate(name, "in __metadata__");
        metadata[name] = (v as { value: string }).value;
      }
      continue;
    }
    if (tensors.has(key)) duplicate(key, "as a tensor name");
    tensors.set(key, value);
  }

  const infos: TensorInfo[] = [];
  for (const [key, value] of tensors) {
    const info = tensorInfo(key, value, (why) =>
      warn(`${JSON.stringify(key)} ${why} (the reference library loads it)`, key),
    );
    if (typeof info === "string") {
      bad(
        key,
        info,
        info.startsWith("unknown dtype") ? "SAFETENSORS_DTYPE_UNKNOWN" : "SAFETENSORS_TENSOR_INVALID",
      );
      continue;
    }
    dtypes.add(info.dtype);
    infos.push(info);
  }
  const spans: TensorInfo[] = [];
  for (const info of infos) {
    const { key, dtype, shape, begin, end } = info;
    let elements = 1n;
    for (const d of shape) {
      elements *= d;
      if (elements >= USIZE_LIMIT) break;
    }
    const bits = elements * BigInt(DTYPE_BITS[dtype] as number);
    if (elements >= USIZE_LIMIT || bits >= USIZE_LIMIT) {
      bad(
        key,
        `shape [${shape.join(", ")}] of ${dtype} overflows a 64-bit size`,
        "SAFETENSORS_SIZE_MISMATCH",
      );
      continue;
    }
    if (bits % 8n !== 0n) {
      bad(
        key,
        `shape [${shape.join(", ")}] of ${dtype} is ${bits} bits, not a whole number of bytes`,
        "SAFETENSORS_SIZE_MISMATCH",
      );
      continue;
    }
    if (end < begin) {
      bad(key, `data_offsets [${begin}, ${end}] end before they begin`);
      continue;
    }
    if (end - begin !== bits / 8n) {
      bad(
        key,
        `shape [${shape.join(", ")}] of ${dtype} needs ${bits / 8n} bytes but data_offsets span ${end - begin}`,
        "SAFETENSORS_SIZE_MISMATCH",
      );
      continue;
    }
    if (end > dataBytes) {
      bad(
        key,
        `data_offsets end at ${end}, past the ${dataBytes}-byte data section`,
        "SAFETENSORS_OFFSET_OUT_OF_RANGE",
      );
      continue;
    }
    spans.push(info);
  }
  spans.sort((a, b) => (a.begin < b.begin ? -1 : a.begin > b.begin ? 1 : a.end < b.end ? -1 : 1));
  let cursor = 0n;
  for (const span of spans) {
    if (span.begin < cursor)
      bad(span.key, `bytes ${span.begin}-${span.end} overlap the previous tensor`, "SAFETENSORS_OVERLAP");
    else if (span.begin > cursor)
      bad(span.key, `bytes ${cursor}-${span.begin} before it belong to no tensor`, "SAFETENSORS_GAP");
    if (span.end > cursor) cursor = span.end;
  }
  if (errors === 0 && cursor !== dataBytes) {
    emit({
      code: "SAFETENSORS_GAP",
      message: `the tensors cover ${cursor} of the ${dataBytes} data bytes; the rest belongs to no tensor`,
      offset: 8 + headerBytes + Number(cursor),
    });
  }
  return {
    tensors: spans.length,
    headerBytes,
    dtypes: [...dtypes].sort(),
    ...(metadata ? { metadata } : {}),
  };
}
