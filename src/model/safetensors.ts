// safetensors: an 8-byte little-endian header length, a JSON header, then the tensor bytes. Only the
// header is read; every length is checked against the file size before anything is allocated for it.

import { errorMessage } from "../util/errors.js";
import { type ByteReader, checkedLength } from "./byte-reader.js";
import { type Finding, FormatError } from "./findings.js";

export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** Bytes per element; sub-byte and 8-bit float types included as the safetensors crate defines them. */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8,
  U8: 8,
  I8: 8,
  F8_E5M2: 8,
  F8_E4M3: 8,
  F8_E8M0: 8,
  F4: 4,
  F6_E2M3: 6,
  F6_E3M2: 6,
  I16: 16,
  U16: 16,
  F16: 16,
  BF16: 16,
  I32: 32,
  U32: 32,
  F32: 32,
  I64: 64,
  U64: 64,
  F64: 64,
  C64: 64,
};

export interface SafetensorsSummary {
  tensors: number;
  headerBytes: number;
  dtypes: string[];
  metadata?: Record<string, string>;
}

type Emit = (f: Omit<Finding, "file" | "severity"> & { severity?: Finding["severity"] }) => void;

/** Findings use codes SAFETENSORS_*; returns a summary when the header could be read at all. */
export async function inspectSafetensors(
  reader: ByteReader,
  emit: Emit,
): Promise<SafetensorsSummary | undefined> {
  let header: unknown;
  let headerBytes: number;
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
    const text = new TextDecoder("utf-8", { fatal: true }).decode(await reader.bytes(headerBytes));
    if (!text.startsWith("{")) throw new FormatError("header does not start with '{'", 8);
    header = JSON.parse(text);
  } catch (error) {
    const offset = error instanceof FormatError ? error.offset : 8;
    emit({
      code: "SAFETENSORS_HEADER_INVALID",
      message: `header cannot be read: ${errorMessage(error)}`,
      ...(offset !== undefined ? { offset } : {}),
    });
    return undefined;
  } finally {
    reader.dispose();
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    emit({ code: "SAFETENSORS_HEADER_INVALID", message: "header is not a JSON object", offset: 8 });
    return undefined;
  }
  const dataBytes = BigInt(reader.size - 8 - headerBytes);
  const spans: { key: string; begin: bigint; end: bigint }[] = [];
  const dtypes = new Set<string>();
  let metadata: Record<string, string> | undefined;
  let errors = 0;
  const bad = (key: string, message: string, code = "SAFETENSORS_TENSOR_INVALID") => {
    // One hostile header can hold millions of bad entries; the first few say enough.
    if (++errors <= 20) emit({ code, message: `${JSON.stringify(key)}: ${message}`, key });
  };
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === "__metadata__") {
      if (
        typeof value !== "object" ||
        value === null ||
        Array.isArray(value) ||
        Object.values(value).some((v) => typeof v !== "string")
      ) {
        bad(key, "must map strings to strings", "SAFETENSORS_METADATA_INVALID");
      } else metadata = value as Record<string, string>;
      continue;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      bad(key, "is not an object with dtype, shape and data_offsets");
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    const bits = typeof dtype === "string" ? DTYPE_BITS[dtype] : undefined;
    if (bits === undefined) {
      bad(key, `unknown dtype ${JSON.stringify(dtype)}`, "SAFETENSORS_DTYPE_UNKNOWN");
      continue;
    }
    dtypes.add(dtype as string);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      bad(key, "shape must be a list of non-negative integers");
      continue;
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      bad(key, "data_offsets must be [begin, end] with 0 <= begin <= end");
      continue;
    }
    const begin = BigInt(offsets[0]);
    const end = BigInt(offsets[1]);
    const elements = shape.reduce((n: bigint, d: number) => n * BigInt(d), 1n);
    const expected = (elements * BigInt(bits) + 7n) / 8n;
    if (end - begin !== expected) {
      bad(
        key,
        `shape [${shape.join(", ")}] of ${dtype} needs ${expected} bytes but data_offsets span ${end - begin}`,
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
    spans.push({ key, begin, end });
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
