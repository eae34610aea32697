// Open Inference Protocol v2 JSON tensors ⇄ typed arrays. Pure: every check a hostile request can trip
// lives here, so it can be tested without a runtime or a socket.

/** A model input or output as the runtime declares it. Dims: number = fixed, string/null = dynamic. */
export interface TensorSpec {
  name: string;
  /** OIP datatype name ("FP32", "INT64", ...). */
  datatype: string;
  shape: (number | string | null)[];
}

type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array;

export interface InputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: TensorData;
}

interface InferRequest {
  id?: string;
  inputs: InputTensor[];
  /** Outputs to return, in the order to return them. */
  outputNames: string[];
}

/** A limit a request ran into: the setting that raises it and its value, for the answer's body. */
interface LimitInfo {
  /** The `modelship serve` flag, e.g. "--max-elements" (for the body budget: "--max-inflight × --max-body-size"). */
  setting: string;
  value: number;
  unit: "elements" | "bytes" | "requests";
}

/**
 * An answer other than 200: the server sends `status` and `{"error": message}` (with `limit` when a
 * configured limit was hit). 4xx: the client must fix the request; 5xx: the model or server failed.
 */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
    readonly limit?: LimitInfo,
  ) {
    super(message);
  }
}

/** Per-request limits on decoding (see ServerLimits in serve/server.ts for all of them). */
interface DecodeLimits {
  /** Elements across all input tensors of one request (the product of each shape, summed). */
  maxElements?: number;
}

/** No tensor may have more dimensions than this (ONNX Runtime and NumPy stop far below). */
export const MAX_RANK = 64;

interface Codec {
  /** onnxruntime-node tensor type. */
  ort: string;
  create(length: number): TensorData;
  /** The stored value, or a string saying why `value` does not fit the type. */
  convert(value: unknown): number | bigint | string;
}

const describeType = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : typeof v;

/**
 * A request's value as an error message shows it: primitives as JSON, at most 40 characters;
 * arrays and objects by their kind (stringifying a hostile, deeply nested one would exhaust the stack).
 */
function shown(value: unknown): string {
  if (typeof value === "object" && value !== null) return `(${describeType(value)})`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function intCodec(ort: string, min: number, max: number, create: (n: number) => TensorData): Codec {
  return {
    ort,
    create,
    convert: (v) => {
      if (typeof v !== "number") return `not a number (${describeType(v)})`;
      if (!Number.isInteger(v)) return "not a whole number";
      if (v < min || v > max) return `out of range (${min} to ${max})`;
      return v;
    },
  };
}

function bigIntCodec(ort: string, min: bigint, max: bigint, create: (n: number) => TensorData): Codec {
  return {
    ort,
    create,
    convert: (v) => {
      if (typeof v !== "number") return `not a number (${describeType(v)})`;
      if (!Number.isInteger(v)) return "not a whole number";
      // JSON numbers beyond 2^53 have already lost precision; refusing them beats silently rounding an id.
      if (!Number.isSafeInteger(v)) {
        const b = BigInt(v);
        if (b < min || b > max) return `out of range (${min} to ${max})`;
        return "beyond ±2^53, where a JSON number cannot be read exactly";
      }
      const b = BigInt(v);
      return b >= min && b <= max ? b : `out of range (${min} to ${max})`;
    },
  };
}

// JSON has no NaN or Infinity; JSON.parse reads a literal too large for a double (1e400) as Infinity.
function floatCodec(
  ort: string,
  create: (n: number) => TensorData,
  store: (v: number) => number | undefined,
  range: string,
): Codec {
  return {
    ort,
    create,
    convert: (v) => {
      if (typeof v !== "number") return `not a number (${describeType(v)})`;
      if (!Number.isFinite(v)) return "not a finite number";
      return store(v) ?? `out of range (${range})`;
    },
  };
}

/** Largest finite float32, and the point from which a double rounds to float32 Infinity. */
export const FP32_MAX = 3.4028234663852886e38;
/** Largest finite float16. */
const FP16_MAX = 65504;

const roundHalfEven = (x: number) => {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
};

/** IEEE 754 binary16 bits of a finite double (round to nearest even), or undefined when it overflows. */
export function toHalfBits(value: number): number | undefined {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === 0) return sign;
  // 65520 is halfway between 65504 and 2^16 and rounds (to even) up: Infinity.
  if (!(a < 65520)) return undefined;
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal (1024 carries into the first normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  let mantissa = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mantissa === 1024) {
    mantissa = 0;
    e++;
  }
  return sign | ((e + 15) << 10) | mantissa;
}

/** The double a binary16 bit pattern stands for. */
export function fromHalfBits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export const CODECS: Record<string, Codec> = {
  FP16: floatCodec("float16", (n) => new Uint16Array(n), toHalfBits, `±${FP16_MAX}`),
  FP32: floatCodec(
    "float32",
    (n) => new Float32Array(n),
    // Out of range is what float32 would store as ±Infinity; tiny values round to 0 as in any client.
    (v) => (Number.isFinite(Math.fround(v)) ? v : undefined),
    `±${FP32_MAX}`,
  ),
  FP64: floatCodec(
    "float64",
    (n) => new Float64Array(n),
    (v) => v,
    "finite doubles",
  ),
  INT8: intCodec("int8", -128, 127, (n) => new Int8Array(n)),
  INT16: intCodec("int16", -32768, 32767, (n) => new Int16Array(n)),
  INT32: intCodec("int32", -(2 ** 31), 2 ** 31 - 1, (n) => new Int32Array(n)),
  INT64: bigIntCodec("int64", -(2n ** 63n), 2n ** 63n - 1n, (n) => new BigInt64Array(n)),
  UINT8: intCodec("uint8", 0, 255, (n) => new Uint8Array(n)),
  UINT16: intCodec("uint16", 0, 65535, (n) => new Uint16Array(n)),
  UINT32: intCodec("uint32", 0, 2 ** 32 - 1, (n) => new Uint32Array(n)),
  UINT64: bigIntCodec("uint64", 0n, 2n ** 64n - 1n, (n) => new BigUint64Array(n)),
  BOOL: {
    ort: "bool",
    create: (n) => new Uint8Array(n),
    // OIP's JSON form of BOOL is true/false; 0 and 1 are numbers, refused rather than guessed.
    convert: (v) => (typeof v === "boolean" ? (v ? 1 : 0) : `not true or false (${describeType(v)})`),
  },
};

const ORT_TO_OIP: Record<string, string> = Object.fromEntries(
  Object.entries(CODECS).map(([oip, c]) => [c.ort, oip]),
);
Object.assign(ORT_TO_OIP, { string: "BYTES" });

/** OIP datatype for an onnxruntime tensor type ("float32" → "FP32"). */
export function oipDatatypeOfOrt(ortType: string): string {
  return ORT_TO_OIP[ortType] ?? ortType.toUpperCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape))
    throw new RequestError(`input "${name}": "shape" must be an array of dimensions`);
  if (shape.length > MAX_RANK) {
    throw new RequestError(
      `input "${name}": "shape" has ${shape.length} dimensions, at most ${MAX_RANK} are accepted`,
    );
  }
  shape.forEach((d, i) => {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw new RequestError(
        `input "${name}": shape[${i}] = ${shown(d)}; "shape" must be an array of non-negative integers`,
      );
    }
  });
  return shape as number[];
}

function checkShapeAgainstModel(name: string, shape: number[], spec: TensorSpec): void {
  if (spec.shape.length === 0) return; // rank unknown to the runtime
  if (shape.length !== spec.shape.length) {
    throw new RequestError(
      `input "${name}": shape [${shape.join(",")}] has rank ${shape.length}, the model expects rank ${spec.shape.length} ([${spec.shape.map((d) => (typeof d === "number" ? d : -1)).join(",")}])`,
    );
  }
  spec.shape.forEach((dim, i) => {
    if (typeof dim === "number" && dim >= 0 && shape[i] !== dim) {
      throw new RequestError(`input "${name}": dimension ${i} must be ${dim}, got ${shape[i]}`);
    }
  });
}

/**
 * The values of "data" in row-major order. Flat data is taken as it is (its length is checked
 * against the shape afterwards); nested data (Triton accepts it) must follow the shape exactly: one
 * level per dimension, each level as long as its dimension. Iterative: nesting cannot exhaust the stack.
 */
function flatten(name: string, data: unknown, shape: number[]): unknown[] {
  if (!Array.isArray(data)) throw new RequestError(`input "${name}": "data" must be an array`);
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const where = (path: number[]) => `data${path.map((i) => `[${i}]`).join("")}`;
  const mismatch = (why: string) =>
    new RequestError(`input "${name}": nested "data" does not follow shape [${shape.join(",")}]: ${why}`);
  const stack: { items: unknown[]; index: number }[] = [];
  const enter = (items: unknown[], path: number[]) => {
    const level = path.length;
    if (level >= shape.length)
      throw mismatch(`${where(path)} is nested ${level + 1} deep, the shape has ${shape.length} dimensions`);
    if (items.length !== shape[level])
      throw mismatch(`${where(path)} has ${items.length} items, dimension ${level} is ${shape[level]}`);
    stack.push({ items, index: 0 });
  };
  enter(data, []);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: unknown[]; index: number };
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.index++];
    // Where the item is, worked out only when it is needed (every element would pay for it).
    const path = () => stack.map((s) => s.index - 1);
    const innermost = stack.length === shape.length;
    if (Array.isArray(item)) {
      if (innermost) throw mismatch(`${where(path())} is an array where a value belongs`);
      enter(item, path());
    } else {
      if (!innermost)
        throw mismatch(`${where(path())} is a value where an array of ${shape[stack.length]} belongs`);
      out.push(item);
    }
  }
  return out;
}

/** The element count of a shape (the product of its dimensions). */
function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

function parseInput(
  raw: unknown,
  index: number,
  specs: Map<string, TensorSpec>,
  budget: { left: number; max: number | undefined },
): InputTensor {
  if (!isObject(raw))
    throw new RequestError(`inputs[${index}] must be an object with name, shape, datatype, data`);
  const name = raw.name;
  if (typeof name !== "string") throw new RequestError(`inputs[${index}]: "name" must be a string`);
  const spec = specs.get(name);
  if (!spec) {
    throw new RequestError(
      `unknown input ${shown(name)}; the model's inputs are: ${[...specs.keys()].map((n) => `"${n}"`).join(", ")}`,
    );
  }
  const datatype = raw.datatype;
  if (typeof datatype !== "string") throw new RequestError(`input "${name}": "datatype" must be a string`);
  if (datatype !== spec.datatype) {
    throw new RequestError(
      `input "${name}": datatype ${datatype.length > 16 ? `${datatype.slice(0, 16)}…` : datatype} does not match the model's ${spec.datatype}`,
    );
  }
  const codec = CODECS[datatype];
  if (!codec) throw new RequestError(`input "${name}": datatype ${datatype} is not supported by this server`);
  const shape = parseShape(name, raw.shape);
  checkShapeAgainstModel(name, shape, spec);
  const values = flatten(name, raw.data, shape);
  const expected = elementCount(shape);
  if (values.length !== expected) {
    throw new RequestError(
      `input "${name}": shape [${shape.join(",")}] needs ${expected} values, "data" has ${values.length}`,
    );
  }
  // Before the typed array and the run: a request over the limit costs its parse and nothing more.
  budget.left -= expected;
  if (budget.max !== undefined && budget.left < 0) {
    throw new RequestError(
      `${budget.max - budget.left === expected ? `input "${name}" holds ${expected} elements ([${shape.join(",")}])` : `the request's inputs hold ${budget.max - budget.left} elements so far (input "${name}" ${expected})`}, over the limit of ${budget.max} elements per request; send fewer rows per request, or raise the limit with modelship serve --max-elements`,
      413,
      { setting: "--max-elements", value: budget.max, unit: "elements" },
    );
  }
  const data = codec.create(values.length);
  for (let i = 0; i < values.length; i++) {
    const converted = codec.convert(values[i]);
    if (typeof converted === "string") {
      throw new RequestError(
        `input "${name}": data[${i}] = ${shown(values[i])} is not a valid ${datatype} value: ${converted}`,
      );
    }
    data[i] = converted as never;
  }
  return { name, datatype, shape, data };
}

/** Validate an OIP v2 infer request body against the model's inputs and outputs. */
export function parseInferRequest(
  body: unknown,
  inputs: TensorSpec[],
  outputs: TensorSpec[],
  limits: DecodeLimits = {},
): InferRequest {
  if (!isObject(body)) throw new RequestError('request body must be a JSON object with an "inputs" array');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw new RequestError('"inputs" must be a non-empty array of tensors');
  }
  if (body.id !== undefined && typeof body.id !== "string") throw new RequestError('"id" must be a string');
  const specs = new Map(inputs.map((s) => [s.name, s]));
  const seen = new Set<string>();
  const budget = { left: limits.maxElements ?? Number.POSITIVE_INFINITY, max: limits.maxElements };
  const parsed = body.inputs.map((raw, i) => {
    const name = isObject(raw) ? raw.name : undefined;
    if (typeof name === "string" && seen.has(name))
      throw new RequestError(`input "${name}" appears more than once`);
    const input = parseInput(raw, i, specs, budget);
    seen.add(input.name);
    return input;
  });
  const missing = inputs.filter((s) => !seen.has(s.name)).map((s) => `"${s.name}"`);
  if (missing.length > 0) throw new RequestError(`missing input(s): ${missing.join(", ")}`);

  let outputNames = outputs.map((o) => o.name);
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new RequestError('"outputs" must be an array of {"name": ...}');
    const known = new Set(outputNames);
    const asked = new Set<string>();
    outputNames = body.outputs.map((o, i) => {
      const name = isObject(o) ? o.name : undefined;
      if (typeof name !== "string") throw new RequestError(`outputs[${i}]: "name" must be a string`);
      if (!known.has(name)) {
        throw new RequestError(
          `unknown output ${shown(name)}; the model's outputs are: ${[...known].join(", ")}`,
        );
      }
      // Each output once: a repeated name would repeat its data in the answer.
      if (asked.has(name)) throw new RequestError(`output "${name}" is asked for more than once`);
      asked.add(name);
      return name;
    });
  }
  return { ...(body.id !== undefined ? { id: body.id } : {}), inputs: parsed, outputNames };
}

/** One value of a runtime output as JSON sees it: BYTES as the string, BOOL as a boolean. */
function jsonValue(
  datatype: string,
  v: number | bigint | boolean | string,
): number | bigint | boolean | string {
  // A string tensor (BYTES, e.g. the labels of a classifier trained on strings) is answered as is.
  if (typeof v === "string") return v;
  if (datatype === "BOOL") return Boolean(v);
  return typeof v === "bigint" ? v : Number(v);
}

// Without Float16Array, onnxruntime-node hands float16 data over as its raw Uint16 bits.
function isHalfBits(datatype: string, data: ArrayLike<unknown>): boolean {
  return datatype === "FP16" && data instanceof Uint16Array;
}

/** A runtime output before it is turned into JSON: the runtime's own typed array. */
export interface RawOutput {
  name: string;
  datatype: string;
  shape: number[];
  data: ArrayLike<number | bigint | boolean | string>;
}

/** What an infer answer says besides its outputs. */
interface ResponseHead {
  model_name: string;
  model_version: string;
  id?: string;
}

// Values are written in slices, so a huge output never becomes one huge string before it is refused.
const SLICE = 4096;

/**
 * The OIP infer answer as JSON bytes, refused (413) as soon as it would pass `maxBytes`, without
 * building the rest. INT64/UINT64 are written with all their digits. NaN and ±Infinity, which JSON
 * cannot carry, make it a 500 naming the output and index: a model that answers them has failed.
 */
export function encodeInferResponse(
  head: ResponseHead,
  outputs: readonly RawOutput[],
  maxBytes: number = Number.POSITIVE_INFINITY,
): Buffer {
  const tooLarge = (size: string) =>
    new RequestError(
      `the response would be ${size} bytes, over the limit of ${maxBytes} bytes; ask for fewer rows or outputs per request, or raise the limit with modelship serve --max-response-size`,
      413,
      { setting: "--max-response-size", value: maxBytes, unit: "bytes" },
    );
  // Every value takes at least one character and one separator: refuse the hopeless at once.
  let least = 0;
  for (const o of outputs) least += 2 * o.data.length;
  if (least > maxBytes) throw tooLarge(`at least ${least}`);

  const parts: Buffer[] = [];
  let size = 0;
  const write = (text: string) => {
    const chunk = Buffer.from(text, "utf8");
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(`more than ${maxBytes}`);
    parts.push(chunk);
  };
  const { id, ...rest } = head;
  write(`${JSON.stringify({ ...rest, ...(id !== undefined ? { id } : {}) }).slice(0, -1)},"outputs":[`);
  outputs.forEach((o, n) => {
    write(
      `${n > 0 ? "," : ""}{"name":${JSON.stringify(o.name)},"datatype":${JSON.stringify(o.datatype)},"shape":${JSON.stringify(o.shape)},"data":[`,
    );
    const bits = isHalfBits(o.datatype, o.data);
    for (let start = 0; start < o.data.length; start += SLICE) {
      const end = Math.min(o.data.length, start + SLICE);
      let text = "";
      for (let i = start; i < end; i++) {
        const raw = o.data[i] as number | bigint | boolean | string;
        const v = bits ? fromHalfBits(raw as number) : jsonValue(o.datatype, raw);
        if (typeof v === "number" && !Number.isFinite(v)) {
          throw new RequestError(
            `the model answered ${v} in output "${o.name}" at data[${i}], which JSON cannot carry; the request may be outside what the model handles`,
            500,
          );
        }
        text += `${i > 0 ? "," : ""}${typeof v === "string" ? JSON.stringify(v) : String(v)}`;
      }
      write(text);
    }
    write("]}");
  });
  write("]}");
  return Buffer.concat(parts, size);
}
