// Decode ONNX ModelProto bytes into the summary a reviewer needs: IR version, opsets, graph signature,
// and where external tensor data is said to live (so validation can check it stays inside the model).

import { errorMessage } from "../util/errors.js";
import { scanTensors, type TensorProblem } from "./onnx-initializers.js";
import { int64ToNumber, oipDatatypeOf, onnx, type pb } from "./onnx-proto.js";

export interface TensorSignature {
  name: string;
  /** OIP datatype name: "FP32", "INT64", ...; "SEQUENCE"/"MAP"/... for non-tensor values. */
  dtype: string;
  /** number = fixed size, string = symbolic dim, null = unknown. Empty for scalars or unknown rank. */
  shape: (number | string | null)[];
}

export interface OnnxSummary {
  irVersion: number;
  /** The default domain "" is reported as "ai.onnx". */
  opsets: { domain: string; version: number }[];
  producer?: string;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
}

export interface OnnxNode {
  opType: string;
  /** "" is the default ai.onnx domain. */
  domain: string;
  inputs: string[];
  outputs: string[];
}

export interface OnnxInspection {
  summary: OnnxSummary;
  /** Top-level graph nodes in file order (subgraphs of If/Loop are not listed). */
  nodes: OnnxNode[];
  /** Every graph input name, initializers included. */
  graphInputs: string[];
  initializers: string[];
  graphOutputs: string[];
  /** Every `location` of every tensor stored outside the protobuf (subgraphs and attributes too). */
  externalDataLocations: string[];
  /** What onnx.checker's tensor and initializer checks refuse, found while the model was decoded. */
  tensorProblems: TensorProblem[];
}

export class OnnxParseError extends Error {}

function signature(info: pb.IValueInfoProto): TensorSignature {
  const name = info.name ?? "";
  const type = info.type;
  if (!type?.tensorType) {
    const kind = type?.sequenceType
      ? "SEQUENCE"
      : type?.mapType
        ? "MAP"
        : type?.optionalType
          ? "OPTIONAL"
          : type?.sparseTensorType
            ? "SPARSE_TENSOR"
            : "UNKNOWN";
    return { name, dtype: kind, shape: [] };
  }
  const dims = type.tensorType.shape?.dim ?? [];
  const shape = dims.map((d): number | string | null => {
    const dim = d as pb.TensorShapeProto.Dimension;
    if (dim.value === "dimValue") return int64ToNumber(dim.dimValue);
    if (dim.value === "dimParam" && dim.dimParam) return dim.dimParam;
    return null;
  });
  return { name, dtype: oipDatatypeOf(type.tensorType.elemType ?? 0), shape };
}

/**
 * Decode and summarise an ONNX model. Throws OnnxParseError when the bytes are not a ModelProto with a
 * graph and a positive IR version (protobuf alone accepts many non-ONNX byte strings).
 */
export function inspectOnnx(bytes: Uint8Array): OnnxInspection {
  let model: pb.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    // RangeError covers truncated input and hostile nesting that exhausts the stack.
    throw new OnnxParseError(`not a valid ONNX protobuf: ${errorMessage(error)}`);
  }
  const irVersion = int64ToNumber(model.irVersion);
  if (!model.graph) throw new OnnxParseError("protobuf decoded but has no graph: not an ONNX model");
  if (!(irVersion > 0))
    throw new OnnxParseError(`ir_version is ${irVersion}; an ONNX model has ir_version >= 1`);
  const graph = model.graph;
  const initializerNames = new Set<string>([
    ...(graph.initializer ?? []).map((t) => t.name ?? ""),
    ...(graph.sparseInitializer ?? []).map((t) => t.values?.name ?? ""),
  ]);
  // Done here so the decoded model (and the file bytes its raw_data points into) is not kept.
  const { problems: tensorProblems, externalLocations: externalDataLocations } = scanTensors(model);
  return {
    summary: {
      irVersion,
      opsets: (model.opsetImport ?? []).map((o) => ({
        domain: o.domain ? o.domain : "ai.onnx",
        version: int64ToNumber(o.version),
      })),
      ...(model.producerName
        ? {
            producer: model.producerVersion
              ? `${model.producerName} ${model.producerVersion}`
              : model.producerName,
          }
        : {}),
      inputs: (graph.input ?? []).filter((i) => !initializerNames.has(i.name ?? "")).map(signature),
      outputs: (graph.output ?? []).map(signature),
    },
    externalDataLocations,
    tensorProblems,
    nodes: (graph.node ?? []).map((n) => ({
      opType: n.opType ?? "",
      domain: n.domain ?? "",
      inputs: n.input ?? [],
      outputs: n.output ?? [],
    })),
    graphInputs: (graph.input ?? []).map((i) => i.name ?? ""),
    initializers: [...initializerNames],
    graphOutputs: (graph.output ?? []).map((o) => o.name ?? ""),
  };
}
