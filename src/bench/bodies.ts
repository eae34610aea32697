import { fetchErrorMessage } from "../util/errors.js";
import { readTextLimited } from "../util/http-body.js";
import { readProblem, readRegularText } from "../util/regular-file.js";
import { resolveEndpoint } from "./options.js";

/** Every non-blank line of JSONL text, parsed, with its line number; a bad line is an error naming file:line. */
export function parseJsonLines(text: string, file: string, hint = ""): { value: unknown; line: number }[] {
  const out: { value: unknown; line: number }[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === "") continue;
    try {
      out.push({ value: JSON.parse(line), line: i + 1 });
    } catch (err) {
      throw new Error(`${file}:${i + 1}: not valid JSON (${(err as Error).message})${hint}`);
    }
  }
  return out;
}

// Bodies (and eval sets) are held in memory whole; a file past this is not a request set.
export const MAX_BODIES_BYTES = 256 * 1024 * 1024;

/** Reads request bodies from a JSONL file: one JSON value a line, blank lines skipped. */
export async function loadBodies(file: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_BODIES_BYTES });
  } catch (err) {
    throw new Error(`${file}: cannot read request bodies: ${readProblem(err)}`);
  }
  const bodies = parseJsonLines(text, file, "; each line must hold one JSON request body").map(
    (l) => l.value,
  );
  if (bodies.length === 0) {
    throw new Error(`${file}: no request bodies; the file is empty (expected one JSON body a line)`);
  }
  return bodies;
}

// OIP v2 tensor datatypes and the zero each is filled with.
const ZERO_BY_DATATYPE: Record<string, number | boolean | string> = {
  BOOL: false,
  UINT8: 0,
  UINT16: 0,
  UINT32: 0,
  UINT64: 0,
  INT8: 0,
  INT16: 0,
  INT32: 0,
  INT64: 0,
  FP16: 0,
  FP32: 0,
  FP64: 0,
  BYTES: "",
};

// A synthesized body is sent thousands of times; a shape beyond this is a metadata error, not a request.
const MAX_ELEMENTS = 10_000_000;
const METADATA_TIMEOUT_MS = 10_000;
// Metadata is a few tensor descriptions; a server sending more is broken or hostile.
export const MAX_METADATA_BYTES = 1 << 20;

interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

function parseTensor(value: unknown, where: string): TensorMetadata {
  const t = value as Partial<Record<"name" | "datatype" | "shape", unknown>> | null;
  if (typeof t !== "object" || t === null) throw new Error(`${where} is not an object`);
  if (typeof t.name !== "string" || t.name === "") throw new Error(`${where} has no "name"`);
  if (typeof t.datatype !== "string" || !(t.datatype in ZERO_BY_DATATYPE)) {
    throw new Error(`${where} ("${t.name}") has unknown datatype ${JSON.stringify(t.datatype)}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= -1)) {
    throw new Error(`${where} ("${t.name}") needs "shape": a list of whole numbers (-1 for dynamic)`);
  }
  return { name: t.name, datatype: t.datatype, shape: t.shape as number[] };
}

/** Builds one Open Inference Protocol request of zeros from the model's metadata (dynamic dims → 1). */
export async function synthesizeOipBody(url: string, modelName: string): Promise<unknown> {
  const infer = resolveEndpoint(url, "oip", modelName);
  const metadataUrl = infer.href.replace(/\/infer$/, "");
  let response: Response;
  try {
    response = await fetch(metadataUrl, { signal: AbortSignal.timeout(METADATA_TIMEOUT_MS) });
  } catch (err) {
    throw new Error(`benchmark: cannot fetch model metadata from ${metadataUrl}: ${fetchErrorMessage(err)}`);
  }
  const text = await readTextLimited(
    response,
    MAX_METADATA_BYTES,
    `benchmark: model metadata from ${metadataUrl}`,
  );
  if (!response.ok) {
    throw new Error(
      `benchmark: GET ${metadataUrl} returned ${response.status}: ${text.slice(0, 200)}; is "${modelName}" served there?`,
    );
  }
  let metadata: unknown;
  try {
    metadata = JSON.parse(text);
  } catch {
    throw new Error(`benchmark: model metadata from ${metadataUrl} is not JSON: ${text.slice(0, 200)}`);
  }
  const inputs = (metadata as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new Error(`benchmark: model metadata from ${metadataUrl} lists no "inputs"`);
  }
  return {
    inputs: inputs.map((value, i) => {
      let tensor: TensorMetadata;
      try {
        tensor = parseTensor(value, `inputs[${i}]`);
      } catch (err) {
        throw new Error(`benchmark: model metadata from ${metadataUrl}: ${(err as Error).message}`);
      }
      const shape = tensor.shape.map((d) => (d === -1 ? 1 : d));
      const elements = shape.reduce((a, b) => a * b, 1);
      if (elements > MAX_ELEMENTS) {
        throw new Error(
          `benchmark: input "${tensor.name}" of shape [${shape.join(", ")}] has ${elements} elements, more than ${MAX_ELEMENTS}`,
        );
      }
      const data = new Array<number | boolean | string>(elements).fill(
        ZERO_BY_DATATYPE[tensor.datatype] ?? 0,
      );
      return { name: tensor.name, shape, datatype: tensor.datatype, data };
    }),
  };
}
