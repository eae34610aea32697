// onnx-proto is CommonJS (module.exports = { onnx }); a default import is the NodeNext-safe way to reach it.
import onnxProto from "onnx-proto";

export const onnx = onnxProto.onnx;
/** The generated message types (onnx.IModelProto, ...), for annotations. */
export type { onnx as pb } from "onnx-proto";

/** ONNX TensorProto.DataType code → Open Inference Protocol datatype name. */
const ONNX_TO_OIP: Record<number, string> = {
  1: "FP32",
  2: "UINT8",
  3: "INT8",
  4: "UINT16",
  5: "INT16",
  6: "INT32",
  7: "INT64",
  8: "BYTES",
  9: "BOOL",
  10: "FP16",
  11: "FP64",
  12: "UINT32",
  13: "UINT64",
  16: "BF16",
};

const OIP_TO_ONNX: Record<string, number> = Object.fromEntries(
  Object.entries(ONNX_TO_OIP).map(([code, name]) => [name, Number(code)]),
);

/** OIP datatype name for an ONNX element type code ("UNKNOWN" for codes we do not name, e.g. complex). */
export function oipDatatypeOf(elemType: number): string {
  return ONNX_TO_OIP[elemType] ?? "UNKNOWN";
}

/** ONNX element type code for an OIP datatype name; throws for names ONNX has no code for. */
export function onnxElemTypeOf(datatype: string): number {
  const code = OIP_TO_ONNX[datatype];
  if (code === undefined) throw new Error(`unknown tensor datatype "${datatype}"`);
  return code;
}

/** protobufjs decodes int64 fields as Long objects when `long` is installed, as numbers otherwise. */
export function int64ToNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (value !== null && typeof value === "object" && "toNumber" in value) {
    return (value as { toNumber(): number }).toNumber();
  }
  return 0;
}
