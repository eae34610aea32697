// Static checks on a decoded ONNX model, the ones onnx.checker makes that matter for serving: known IR
// version and opsets, every node's domain imported, every value defined before it is used. Whether each
// operator exists in its opset is left to ONNX Runtime itself (the smoke run loads the model): a table of
// ~200 operators with their since-versions would drift from what the runtime actually accepts.
import { isAbsolute, posix } from "node:path";
import type { Finding } from "./findings.js";
import type { OnnxInspection } from "./onnx-inspect.js";

/** IR 11 is ONNX 1.18. Newer files need a newer modelship (and runtime). */
export const MAX_IR_VERSION = 11;
/** Highest opset known per domain ("ai.onnx" is the default domain). */
export const KNOWN_OPSETS: Record<string, number> = {
  "ai.onnx": 23,
  "ai.onnx.ml": 5,
  "ai.onnx.training": 1,
  "ai.onnx.preview.training": 1,
};

const MAX_REPORTED = 20;

export function checkOnnx(file: string, inspection: OnnxInspection, fileSet: Set<string>): Finding[] {
  const { summary } = inspection;
  const findings: Finding[] = [];
  const error = (code: string, message: string, key?: string) =>
    findings.push({
      severity: "error",
      code,
      message: `${file}: ${message}`,
      file,
      ...(key !== undefined ? { key } : {}),
    });
  if (summary.irVersion > MAX_IR_VERSION) {
    error(
      "ONNX_IR_VERSION_UNKNOWN",
      `IR version ${summary.irVersion} is newer than the newest known (${MAX_IR_VERSION}); export with an older onnx or upgrade modelship`,
    );
  }
  if (summary.opsets.length === 0)
    error("ONNX_NO_OPSET", "imports no operator set; re-export it with an explicit opset");
  const imported = new Map<string, number>();
  for (const { domain, version } of summary.opsets) {
    imported.set(domain, version);
    const max = KNOWN_OPSETS[domain];
    if (max !== undefined && (version < 1 || version > max)) {
      error("ONNX_OPSET_UNKNOWN", `opset ${domain} ${version} is not a released version (1-${max})`, domain);
    }
  }
  if (summary.outputs.length === 0) error("ONNX_NO_OUTPUTS", "declares no graph outputs");
  if (summary.inputs.length === 0) {
    findings.push({
      severity: "warning",
      code: "ONNX_NO_INPUTS",
      message: `${file} declares no graph inputs (every request gets the same answer)`,
      file,
    });
  }
  // Initializer data, checked like onnx.checker checks it (onnx-initializers.ts), used or not.
  for (const p of inspection.tensorProblems.slice(0, MAX_REPORTED)) error(p.code, p.message, p.key);
  if (inspection.tensorProblems.length > MAX_REPORTED) {
    error(
      "ONNX_TENSOR_INVALID",
      `${inspection.tensorProblems.length - MAX_REPORTED} more tensors with invalid data not listed`,
    );
  }
  // Single static assignment: every value is defined once (graph input, initializer or node output).
  const defined = new Set<string>();
  let redefined = 0;
  const redefine = (name: string, what: string) => {
    if (++redefined <= MAX_REPORTED)
      error(
        "ONNX_NOT_SSA",
        `${what} "${name}", a name already defined; each value must be defined once`,
        name,
      );
  };
  for (const input of inspection.graphInputs) {
    if (defined.has(input)) redefine(input, "declares graph input");
    defined.add(input);
  }
  for (const name of inspection.initializers) defined.add(name);
  let undefinedInputs = 0;
  let missingDomains = 0;
  inspection.nodes.forEach((node, index) => {
    const domain = node.domain || "ai.onnx";
    if (imported.size > 0 && !imported.has(domain) && ++missingDomains <= MAX_REPORTED) {
      error(
        "ONNX_DOMAIN_NOT_IMPORTED",
        `node ${index} (${node.opType}) uses domain ${domain}, which the model does not import`,
        domain,
      );
    }
    for (const input of node.inputs) {
      // "" marks an omitted optional input.
      if (input !== "" && !defined.has(input) && ++undefinedInputs <= MAX_REPORTED) {
        error(
          "ONNX_INPUT_UNDEFINED",
          `node ${index} (${node.opType}) reads "${input}", which no initializer, graph input or earlier node produces`,
          input,
        );
      }
    }
    for (const output of node.outputs) {
      if (output === "") continue;
      if (defined.has(output)) redefine(output, `node ${index} (${node.opType}) outputs`);
      defined.add(output);
    }
  });
  for (const output of inspection.graphOutputs) {
    if (!defined.has(output))
      error("ONNX_OUTPUT_UNDEFINED", `graph output "${output}" is produced by no node`, output);
  }
  const modelDir = posix.dirname(file);
  for (const location of new Set(inspection.externalDataLocations)) {
    const resolved = posix.normalize(posix.join(modelDir, location));
    // The runtime opens these paths itself: a hostile model could point at /etc/shadow or ../../secrets.
    if (
      !location ||
      isAbsolute(location) ||
      posix.isAbsolute(location) ||
      resolved.startsWith("../") ||
      resolved === ".."
    ) {
      error(
        "ONNX_EXTERNAL_DATA_OUTSIDE",
        `reads tensor data from ${JSON.stringify(location)}, outside the model directory`,
        location,
      );
    } else if (posix.normalize(location).includes("..")) {
      // onnx's checker and loader refuse any ".." left after normalising, even inside a file name.
      error(
        "ONNX_EXTERNAL_DATA_OUTSIDE",
        `reads tensor data from ${JSON.stringify(location)}, whose ".." onnx refuses in a location; rename the file`,
        location,
      );
    } else if (!fileSet.has(resolved)) {
      error(
        "ONNX_EXTERNAL_DATA_MISSING",
        `reads tensor data from ${JSON.stringify(location)}, which is not in the model directory; add the file next to the model`,
        location,
      );
    }
  }
  return findings;
}
