// Open Inference Protocol v2 JSON tensors ⇄ typed arrays. Pure: every check a hostile request can trip
// lives here, so it can be tested without a runtime or a socket.

/** A model input or output as the runtime declares it. Dims: number = fixed, string/null = dynamic. */
export interface TensorSpec {
  name: string;
  /** OIP datatype name ("FP32", "INT64", ...). */
  datatype: string;
  shape: (number | string | null)[];
}

export type TensorData =
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

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: (number | boolean)[];
}

export interface InferRequest {
  id?: string;
  inputs: InputTensor[];
  /** Outputs to return, in the order to return them. */
  outputNames: string[];
}

/** A request the client must fix; the server answers with `status` and `{"error": message}`. */
export class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

interface Codec {
  /** onnxruntime-node tensor type. */
  ort: string;
  create(length: number): TensorData;
  /** Returns the stored value or undefined when `value` is not valid for the type. */
  convert(value: unknown): number | bigint | undefined;
}

function intCodec(ort: string, min: number, max: number, create: (n: number) => TensorData): Codec {
  return {
    ort,
    create,
    convert: (v) => (typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : undefined),
  };
}

function bigIntCodec(ort: string, min: bigint, max: bigint, create: (n: number) => TensorData): Codec {
  return {
    ort,
    create,
    convert: (v) => {
      // JSON numbers beyond 2^53 have already lost precision; refusing them beats silently rounding an id.
      if (typeof v !== "number" || !Number.isSafeInteger(v)) return undefined;
      const b = BigInt(v);
      return b >= min && b <= max ? b : undefined;
    },
  };
}

const floatConvert = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

export const CODECS: Record<string, Codec> = {
  FP32: { ort: "float32", create: (n) => new Float32Array(n), convert: floatConvert },
  FP64: { ort: "float64", create: (n) => new Float64Array(n), convert: floatConvert },
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
    convert: (v) => (typeof v === "boolean" ? (v ? 1 : 0) : undefined),
  },
};

const ORT_TO_OIP: Record<string, string> = Object.fromEntries(
  Object.entries(CODECS).map(([oip, c]) => [c.ort, oip]),
);
Object.assign(ORT_TO_OIP, { float16: "FP16", string: "BYTES" });

/** OIP datatype for an onnxruntime tensor type ("float32" → "FP32"). */
export function oipDatatypeOfOrt(ortType: string): string {
  return ORT_TO_OIP[ortType] ?? ortType.toUpperCase();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseShape(name: string, shape: unknown): number[] {
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)
  ) {
    throw new RequestError(`input "${name}": "shape" must be an array of non-negative integers`);
  }
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

function flatten(name: string, data: unknown): unknown[] {
  if (!Array.isArray(data)) throw new RequestError(`input "${name}": "data" must be an array`);
  if (!data.some(Array.isArray)) return data;
  // Some clients send nested row-major arrays (Triton accepts them); flatten without recursion.
  const out: unknown[] = [];
  const stack: { items: unknown[]; index: number }[] = [{ items: data, index: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: unknown[]; index: number };
    if (top.index >= top.items.length) {
      stack.pop();
      continue;
    }
    const item = top.items[top.index++];
    if (Array.isArray(item)) stack.push({ items: item, index: 0 });
    else out.push(item);
  }
  return out;
}

function parseInput(raw: unknown, index: number, specs: Map<string, TensorSpec>): InputTensor {
  if (!isObject(raw))
    throw new RequestError(`inputs[${index}] must be an object with name, shape, datatype, data`);
  const name = raw.name;
  if (typeof name !== "string") throw new RequestError(`inputs[${index}]: "name" must be a string`);
  const spec = specs.get(name);
  if (!spec) {
    throw new RequestError(
      `unknown input "${name}"; the model's inputs are: ${[...specs.keys()].map((n) => `"${n}"`).join(", ")}`,
    );
  }
  const datatype = raw.datatype;
  if (typeof datatype !== "string") throw new RequestError(`input "${name}": "datatype" must be a string`);
  if (datatype !== spec.datatype) {
    throw new RequestError(
      `input "${name}": datatype ${datatype} does not match the model's ${spec.datatype}`,
    );
  }
  const codec = CODECS[datatype];
  if (!codec) throw new RequestError(`input "${name}": datatype ${datatype} is not supported by this server`);
  const shape = parseShape(name, raw.shape);
  checkShapeAgainstModel(name, shape, spec);
  const values = flatten(name, raw.data);
  let expected = 1;
  for (const dim of shape) expected *= dim;
  if (values.length !== expected) {
    throw new RequestError(
      `input "${name}": shape [${shape.join(",")}] needs ${expected} values, "data" has ${values.length}`,
    );
  }
  const data = codec.create(values.length);
  for (let i = 0; i < values.length; i++) {
    const converted = codec.convert(values[i]);
    if (converted === undefined) {
      throw new RequestError(
        `input "${name}": data[${i}] = ${JSON.stringify(values[i]) ?? String(values[i])} is not a valid ${datatype} value`,
      );
    }
    data[i] = converted as never;
  }
  return { name, datatype, shape, data };
}

/** Validate an OIP v2 infer request body against the model's inputs and outputs. */
export function parseInferRequest(body: unknown, inputs: TensorSpec[], outputs: TensorSpec[]): InferRequest {
  if (!isObject(body)) throw new RequestError('request body must be a JSON object with an "inputs" array');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw new RequestError('"inputs" must be a non-empty array of tensors');
  }
  if (body.id !== undefined && typeof body.id !== "string") throw new RequestError('"id" must be a string');
  const specs = new Map(inputs.map((s) => [s.name, s]));
  const parsed = body.inputs.map((raw, i) => parseInput(raw, i, specs));
  const seen = new Set<string>();
  for (const input of parsed) {
    if (seen.has(input.name)) throw new RequestError(`input "${input.name}" appears more than once`);
    seen.add(input.name);
  }
  const missing = inputs.filter((s) => !seen.has(s.name)).map((s) => `"${s.name}"`);
  if (missing.length > 0) throw new RequestError(`missing input(s): ${missing.join(", ")}`);

  let outputNames = outputs.map((o) => o.name);
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw new RequestError('"outputs" must be an array of {"name": ...}');
    const known = new Set(outputNames);
    outputNames = body.outputs.map((o, i) => {
      const name = isObject(o) ? o.name : undefined;
      if (typeof name !== "string") throw new RequestError(`outputs[${i}]: "name" must be a string`);
      if (!known.has(name)) {
        throw new RequestError(`unknown output "${name}"; the model's outputs are: ${[...known].join(", ")}`);
      }
      return name;
    });
  }
  return { ...(body.id !== undefined ? { id: body.id } : {}), inputs: parsed, outputNames };
}

/** JSON-friendly values: INT64/UINT64 as numbers (per OIP JSON), BOOL as booleans. */
export function toJsonData(
  datatype: string,
  data: ArrayLike<number | bigint | boolean | string>,
): (number | boolean)[] {
  const out: (number | boolean)[] = new Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = datatype === "BOOL" ? Boolean(v) : Number(v);
  }
  return out;
}
