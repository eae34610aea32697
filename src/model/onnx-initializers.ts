// The tensor-data half of onnx.checker.check_model (onnx 1.23.2, checker.cc: check_tensor,
// check_sparse_tensor and the initializer part of check_graph), over every tensor a model holds:
// initializers and sparse initializers of the graph and of every subgraph, tensors in node
// attributes, and in local functions. ONNX Runtime drops initializers no node uses without reading
// them, so a model whose bad data sits in one loads and runs; the checker refuses it, and so do we.
// Each tensor stops at its first problem, as the checker does.
import { int64ToNumber, onnx, type pb } from "./onnx-proto.js";

export interface TensorProblem {
  code: string;
  message: string;
  /** The tensor (or initializer) name. */
  key: string;
}

export interface TensorScan {
  problems: TensorProblem[];
  /** Every `location` of every tensor stored outside the protobuf, in model order. */
  externalLocations: string[];
}

const T = onnx.TensorProto.DataType as unknown as Record<string, number>;
// Codes newer than the bundled onnx-proto knows (onnx 1.14 - 1.23).
const FLOAT8E4M3FN = 17;
const FLOAT8E4M3FNUZ = 18;
const FLOAT8E5M2 = 19;
const FLOAT8E5M2FNUZ = 20;
const UINT4 = 21;
const INT4 = 22;
const FLOAT4E2M1 = 23;
const FLOAT8E8M0 = 24;
const UINT2 = 25;
const INT2 = 26;
const FLOAT6E2M3 = 27;
const FLOAT6E3M2 = 28;
const FLOAT6 = new Set([FLOAT6E2M3, FLOAT6E3M2]);

/** Element types whose raw_data holds whole bytes per element, and how many. */
const RAW_BYTES = new Map<number, number>([
  ...[T.UINT8, T.INT8, T.BOOL, FLOAT8E4M3FN, FLOAT8E4M3FNUZ, FLOAT8E5M2, FLOAT8E5M2FNUZ, FLOAT8E8M0].map(
    (t) => [t as number, 1] as const,
  ),
  ...[T.UINT16, T.INT16, T.FLOAT16, T.BFLOAT16].map((t) => [t as number, 2] as const),
  ...[T.FLOAT, T.INT32, T.UINT32].map((t) => [t as number, 4] as const),
  ...[T.DOUBLE, T.INT64, T.UINT64, T.COMPLEX64].map((t) => [t as number, 8] as const),
  [T.COMPLEX128 as number, 16],
]);
/** Element types stored one per int32_data entry when not raw. */
const INT32_ONE = new Set<number>([
  T.INT32 as number,
  T.UINT8 as number,
  T.INT8 as number,
  T.UINT16 as number,
  T.INT16 as number,
  T.BOOL as number,
  T.FLOAT16 as number,
  T.BFLOAT16 as number,
  FLOAT8E4M3FN,
  FLOAT8E4M3FNUZ,
  FLOAT8E5M2,
  FLOAT8E5M2FNUZ,
  FLOAT8E8M0,
  FLOAT6E2M3,
  FLOAT6E3M2,
]);

const INT64_MAX = 2n ** 63n - 1n;
// protobufjs already bounds nesting while decoding; this keeps the walk's own recursion bounded too.
const MAX_GRAPH_DEPTH = 100;

const has = (message: object | null | undefined, field: string) =>
  message != null && Object.hasOwn(message, field);

/** protobufjs gives int64 fields as Long objects (or numbers without the long package). */
type Int64 = number | { toString(): string };

function big(value: Int64 | null | undefined): bigint {
  if (value == null) return 0n;
  return typeof value === "number" ? BigInt(Math.trunc(value)) : BigInt(value.toString());
}

/** onnx's safe_dim_product: the element count, or why there is none. */
function elementCount(dims: readonly Int64[]): bigint | string {
  let n = 1n;
  for (const d of dims) {
    const dim = big(d);
    if (dim < 0n) return `has a negative dimension (${dim})`;
    n *= dim;
    if (n > INT64_MAX) return "has dimensions whose product overflows int64";
  }
  return n;
}

const ceilDiv = (n: bigint, d: bigint) => (n + d - 1n) / d;

class Scanner {
  readonly problems: TensorProblem[] = [];
  readonly externalLocations: string[] = [];

  constructor(private readonly irVersion: number) {}

  private fail(code: string, key: string, message: string): false {
    this.problems.push({ code, key, message });
    return false;
  }

  /** check_tensor; true when the tensor passes. */
  tensor(t: pb.ITensorProto, where: string): boolean {
    const key = t.name ?? "";
    const bad = (message: string) => this.fail("ONNX_TENSOR_INVALID", key, `${where} ${message}`);
    if (!has(t, "dataType")) return bad("has no data_type");
    const type = t.dataType ?? 0;
    if (type === T.UNDEFINED) return bad("has data_type UNDEFINED");
    const fields = (
      [
        ["float_data", t.floatData?.length],
        ["int32_data", t.int32Data?.length],
        ["string_data", t.stringData?.length],
        ["int64_data", t.int64Data?.length],
        ["raw_data", t.rawData?.length],
        ["double_data", t.doubleData?.length],
        ["uint64_data", t.uint64Data?.length],
      ] as const
    ).filter(([, n]) => (n ?? 0) > 0);
    const present = fields.map(([name]) => name);
    if (has(t, "dataLocation") && t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      if (present.length > 0)
        return this.fail(
          "ONNX_EXTERNAL_DATA_INVALID",
          key,
          `${where} is stored externally but also holds ${present.join(", ")}`,
        );
      const locations = (t.externalData ?? [])
        .filter((kv) => has(kv, "key") && has(kv, "value") && kv.key === "location")
        .map((kv) => kv.value ?? "");
      // Every location entry is checked: a runtime that reads the last one must not get an unchecked path.
      this.externalLocations.push(...locations);
      if (locations.length === 0)
        return this.fail(
          "ONNX_EXTERNAL_DATA_INVALID",
          key,
          `${where} is stored externally but names no location`,
        );
      return true;
    }
    const count = elementCount(t.dims ?? []);
    if (typeof count === "string") return bad(count);
    if (count === 0n && present.length > 0) return bad(`has 0 elements but holds ${present.join(", ")}`);
    if (count !== 0n && present.length !== 1)
      return bad(
        present.length === 0
          ? `has ${count} elements and no data`
          : `holds ${present.join(" and ")}; a tensor has one value field`,
      );
    const raw = t.rawData;
    if (raw && raw.length > 0) return this.rawSize(type, count, raw, bad);
    return this.typedSize(t, type, count, present[0], bad);
  }

  private rawSize(type: number, count: bigint, raw: Uint8Array, bad: (m: string) => false): boolean {
    if (type === T.STRING) return bad("is STRING but uses raw_data (strings go in string_data)");
    let expected = 0n;
    if (type === UINT4 || type === INT4 || type === FLOAT4E2M1) expected = ceilDiv(count, 2n);
    else if (type === UINT2 || type === INT2) expected = ceilDiv(count, 4n);
    else if (FLOAT6.has(type)) {
      const bits = count * 6n;
      if (bits > INT64_MAX) return bad("is too large to check against its data type");
      expected = ceilDiv(bits, 8n);
      const used = Number(bits % 8n);
      if (expected > 0n && BigInt(raw.length) >= expected && used !== 0) {
        const last = raw[Number(expected) - 1] ?? 0;
        if ((last & (0xff << used) & 0xff) !== 0)
          return bad("has non-zero padding bits in its packed FLOAT6 raw_data");
      }
    } else {
      const size = RAW_BYTES.get(type);
      if (size !== undefined) {
        expected = count * BigInt(size);
        if (expected > INT64_MAX) return bad("is too large to check against its data type");
      }
    }
    if (expected > 0n && BigInt(raw.length) < expected)
      return bad(`has ${raw.length} bytes of raw_data; its dims and data type need ${expected}`);
    return true;
  }

  private typedSize(
    t: pb.ITensorProto,
    type: number,
    count: bigint,
    field: string | undefined,
    bad: (m: string) => false,
  ): boolean {
    const need = (name: string, got: number, values: bigint, unit = "values") => {
      if (count !== 0n && field !== name)
        return bad(`of data type ${type} keeps its values in ${field}, not ${name}`);
      if (count > 0n && BigInt(got) < values)
        return bad(`has ${got} ${name} entries; its dims need ${values} ${unit}`);
      return true;
    };
    if (type === T.FLOAT || type === T.COMPLEX64)
      return need("float_data", t.floatData?.length ?? 0, type === T.COMPLEX64 ? count * 2n : count);
    if (type === T.DOUBLE || type === T.COMPLEX128)
      return need("double_data", t.doubleData?.length ?? 0, type === T.COMPLEX128 ? count * 2n : count);
    if (INT32_ONE.has(type)) {
      if (!need("int32_data", t.int32Data?.length ?? 0, count)) return false;
      if (count > 0n && FLOAT6.has(type) && (t.int32Data ?? []).some((v) => v < 0 || v > 0x3f))
        return bad("has FLOAT6 int32_data values outside bits 0-5");
      return true;
    }
    // onnx 1.23.2 asks one int32 per 8 four-bit and per 16 two-bit elements.
    if (type === UINT4 || type === INT4 || type === FLOAT4E2M1)
      return need("int32_data", t.int32Data?.length ?? 0, ceilDiv(count, 8n), "packed values");
    if (type === UINT2 || type === INT2)
      return need("int32_data", t.int32Data?.length ?? 0, ceilDiv(count, 16n), "packed values");
    if (type === T.INT64) return need("int64_data", t.int64Data?.length ?? 0, count);
    if (type === T.UINT32 || type === T.UINT64) return need("uint64_data", t.uint64Data?.length ?? 0, count);
    if (type === T.STRING) return need("string_data", t.stringData?.length ?? 0, count);
    return bad(`has data type ${type}, which onnx does not define`);
  }

  /** check_sparse_tensor. */
  sparse(s: pb.ISparseTensorProto, where: string): boolean {
    const key = s.values?.name ?? "";
    const bad = (message: string) => this.fail("ONNX_SPARSE_TENSOR_INVALID", key, `${where} ${message}`);
    if (!has(s, "values") || !s.values) return bad("has no values");
    if (!this.tensor(s.values, `${where}'s values`)) return false;
    const valueDims = s.values.dims ?? [];
    if (valueDims.length !== 1) return bad(`has values of rank ${valueDims.length}; they must be rank 1`);
    const nnz = big(valueDims[0]);
    const dims = (s.dims ?? []).map(big);
    if (dims.length === 0) return bad("has no dense shape (dims)");
    if (dims.some((d) => d <= 0n)) return bad("has dense dims that are not all positive");
    if (!has(s, "indices") || !s.indices) return nnz === 0n || bad(`has ${nnz} values and no indices`);
    const indices = s.indices;
    if (!this.tensor(indices, `${where}'s indices`)) return false;
    if (indices.dataType !== T.INT64) return bad("has indices that are not INT64");
    const indexDims = (indices.dims ?? []).map(big);
    if (indexDims.length === 1 && indexDims[0] !== nnz)
      return bad(`has ${indexDims[0]} indices for ${nnz} values`);
    if (indexDims.length === 2 && (indexDims[0] !== nnz || indexDims[1] !== BigInt(dims.length)))
      return bad(`has indices of shape [${indexDims.join(", ")}] for ${nnz} values in ${dims.length} dims`);
    if (indexDims.length !== 1 && indexDims.length !== 2) return bad("has indices of rank other than 1 or 2");
    const index = int64Reader(indices);
    if (typeof index === "string") return bad(index);
    const rank = indexDims.length === 1 ? 1 : dims.length;
    const denseSize = dims.reduce((a, b) => a * b, 1n);
    let previous = -1n;
    for (let i = 0; i < Number(nnz); i++) {
      let linear = 0n;
      if (indexDims.length === 1) {
        linear = index(i);
        if (linear < 0n || linear >= denseSize)
          return bad(`has index ${linear} at ${i}, outside [0, ${denseSize})`);
      } else {
        for (let j = 0; j < rank; j++) {
          const at = index(i * rank + j);
          const dim = dims[j] ?? 0n;
          if (at < 0n || at >= dim) return bad(`has index ${at} at [${i}, ${j}], outside [0, ${dim})`);
          linear = linear * dim + at;
        }
      }
      if (linear <= previous) return bad(`has indices out of sorted order at ${i}`);
      previous = linear;
    }
    return true;
  }

  /** The initializer part of check_graph, then every tensor in the graph's nodes. */
  graph(g: pb.IGraphProto, where: string, depth: number): void {
    if (depth > MAX_GRAPH_DEPTH) return;
    const inputs = new Set((g.input ?? []).map((i) => i.name ?? ""));
    const names = new Set<string>();
    const named = (name: string, kind: string): boolean => {
      if (name === "")
        return this.fail("ONNX_INITIALIZER_NAME_INVALID", name, `${where} has a ${kind} with an empty name`);
      if (names.has(name))
        return this.fail(
          "ONNX_INITIALIZER_NAME_INVALID",
          name,
          `${where} has two initializers named "${name}"`,
        );
      names.add(name);
      return true;
    };
    for (const init of g.initializer ?? []) {
      const name = init.name ?? "";
      if (!named(name, "initializer")) continue;
      if (!this.tensor(init, `initializer "${name}"`)) continue;
      if (this.irVersion <= 3 && !inputs.has(name))
        this.fail(
          "ONNX_INITIALIZER_NOT_INPUT",
          name,
          `initializer "${name}" is not a graph input, which IR version ${this.irVersion} requires (IR 4 lifted this)`,
        );
    }
    for (const sparse of g.sparseInitializer ?? []) {
      const name = sparse.values?.name ?? "";
      if (named(name, "sparse initializer")) this.sparse(sparse, `sparse initializer "${name}"`);
    }
    this.nodes(g.node ?? [], depth);
  }

  nodes(nodes: readonly pb.INodeProto[], depth: number): void {
    for (const node of nodes) {
      const op = `${node.opType ?? "?"} node${node.name ? ` "${node.name}"` : ""}`;
      for (const attr of node.attribute ?? []) {
        const where = `attribute ${attr.name ?? ""} of ${op}`;
        if (attr.t) this.tensor(attr.t, `tensor in ${where}`);
        if (attr.sparseTensor) this.sparse(attr.sparseTensor, `sparse tensor in ${where}`);
        for (const t of attr.tensors ?? []) this.tensor(t, `tensor in ${where}`);
        for (const s of attr.sparseTensors ?? []) this.sparse(s, `sparse tensor in ${where}`);
        if (attr.g) this.graph(attr.g, `subgraph ${where}`, depth + 1);
        for (const g of attr.graphs ?? []) this.graph(g, `subgraph ${where}`, depth + 1);
      }
    }
  }
}

/**
 * Index i of a sparse tensor's indices, read as onnx's ParseData<int64_t> reads them, without
 * materialising them all (a hostile file can hold hundreds of millions).
 */
function int64Reader(t: pb.ITensorProto): ((i: number) => bigint) | string {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)
    return "has indices stored externally, which the checker cannot read";
  const count = elementCount(t.dims ?? []);
  if (typeof count === "string") return count;
  const raw = t.rawData;
  if (!raw || raw.length === 0) {
    const values = t.int64Data ?? [];
    if (BigInt(values.length) !== count) return `has ${values.length} int64_data indices for ${count}`;
    return (i) => big(values[i]);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return (i) => view.getBigInt64(i * 8, true);
}

/** Scans every tensor of a decoded model; problems come in model order, each tensor at most once. */
export function scanTensors(model: pb.IModelProto): TensorScan {
  const scanner = new Scanner(int64ToNumber(model.irVersion));
  if (model.graph) scanner.graph(model.graph, "the graph", 0);
  // check_model_local_functions runs for IR 8 and later only.
  if (int64ToNumber(model.irVersion) >= 8) {
    for (const fn of model.functions ?? []) scanner.nodes(fn.node ?? [], 1);
  }
  return { problems: scanner.problems, externalLocations: scanner.externalLocations };
}
