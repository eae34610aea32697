// Build ONNX ModelProto bytes from a small graph description. Used by the Iris training script and by
// tests that need fixture models (valid and deliberately broken) without Python.
import { onnx, onnxElemTypeOf, type pb } from "./onnx-proto.js";

export type InitializerData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export interface InitializerSpec {
  name: string;
  dims: number[];
  data: InitializerData;
}

/** A dim is a fixed size, a symbolic name ("N"), or null for an unnamed unknown dim. */
export type DimSpec = number | string | null;

export interface ValueInfoSpec {
  name: string;
  /** OIP datatype name: "FP32", "INT64", ... */
  datatype: string;
  shape: DimSpec[];
}

export type AttributeSpec =
  | { i: number }
  | { f: number }
  | { s: string }
  | { ints: number[] }
  | { floats: number[] };

export interface NodeSpec {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttributeSpec>;
}

export interface ModelSpec {
  graphName?: string;
  nodes: NodeSpec[];
  initializers?: InitializerSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
  /** Default 8. */
  irVersion?: number;
  /** Default [{ domain: "", version: 13 }]. */
  opsets?: { domain: string; version: number }[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
}

const A = onnx.AttributeProto.AttributeType;

function attribute(name: string, spec: AttributeSpec): pb.IAttributeProto {
  if ("i" in spec) return { name, type: A.INT, i: spec.i };
  if ("f" in spec) return { name, type: A.FLOAT, f: spec.f };
  if ("s" in spec) return { name, type: A.STRING, s: new TextEncoder().encode(spec.s) };
  if ("ints" in spec) return { name, type: A.INTS, ints: spec.ints };
  return { name, type: A.FLOATS, floats: spec.floats };
}

const INITIALIZER_TYPES: [new (...args: never[]) => InitializerData, string][] = [
  [Float32Array, "FP32"],
  [Float64Array, "FP64"],
  [Int32Array, "INT32"],
  [BigInt64Array, "INT64"],
];

function tensor(spec: InitializerSpec): pb.ITensorProto {
  const count = spec.dims.reduce((a, b) => a * b, 1);
  if (count !== spec.data.length) {
    throw new Error(
      `initializer "${spec.name}": dims [${spec.dims.join(",")}] hold ${count} values but data has ${spec.data.length}`,
    );
  }
  const datatype = INITIALIZER_TYPES.find(([ctor]) => spec.data instanceof ctor)?.[1];
  if (!datatype) throw new Error(`initializer "${spec.name}": unsupported data array`);
  // raw_data is little-endian per the ONNX spec; copy through a DataView so the bytes do not depend on the host.
  const bytes = new Uint8Array(spec.data.length * spec.data.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  spec.data.forEach((value: number | bigint, index: number) => {
    const offset = index * spec.data.BYTES_PER_ELEMENT;
    if (spec.data instanceof Float32Array) view.setFloat32(offset, value as number, true);
    else if (spec.data instanceof Float64Array) view.setFloat64(offset, value as number, true);
    else if (spec.data instanceof Int32Array) view.setInt32(offset, value as number, true);
    else view.setBigInt64(offset, value as bigint, true);
  });
  return { name: spec.name, dims: spec.dims, dataType: onnxElemTypeOf(datatype), rawData: bytes };
}

function valueInfo(spec: ValueInfoSpec): pb.IValueInfoProto {
  const dim = spec.shape.map((d): pb.TensorShapeProto.IDimension => {
    if (typeof d === "number") return { dimValue: d };
    if (typeof d === "string") return { dimParam: d };
    return {};
  });
  return {
    name: spec.name,
    type: { tensorType: { elemType: onnxElemTypeOf(spec.datatype), shape: { dim } } },
  };
}

/** Serialize a model description to ONNX protobuf bytes (deterministic: same spec, same bytes). */
export function buildOnnxModel(spec: ModelSpec): Uint8Array {
  const model: pb.IModelProto = {
    irVersion: spec.irVersion ?? 8,
    opsetImport: spec.opsets ?? [{ domain: "", version: 13 }],
    producerName: spec.producerName ?? "modelship",
    producerVersion: spec.producerVersion ?? "",
    docString: spec.docString ?? "",
    graph: {
      name: spec.graphName ?? "graph",
      node: spec.nodes.map((n, index) => ({
        name: n.name ?? `${n.opType}_${index}`,
        opType: n.opType,
        domain: n.domain ?? "",
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes ?? {}).map(([name, a]) => attribute(name, a)),
      })),
      initializer: (spec.initializers ?? []).map(tensor),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}
