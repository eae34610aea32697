import type { Protocol } from "./options.js";

// Top-level keys of an Open Inference Protocol v2 inference request; anything else (a "label" kept
// next to the inputs in an eval file, say) is ours, not the server's, and is stripped.
const OIP_REQUEST_KEYS = new Set(["id", "parameters", "inputs", "outputs"]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The body an OIP server should see: only protocol keys, and an `inputs` array is required. */
export function toOipRequest(body: unknown, index: number): Record<string, unknown> {
  if (!isPlainObject(body)) {
    throw new Error(`benchmark: body #${index + 1} must be a JSON object for the oip protocol`);
  }
  if (!Array.isArray(body.inputs)) {
    throw new Error(
      `benchmark: body #${index + 1} has no "inputs" array; an Open Inference Protocol request needs one`,
    );
  }
  return Object.fromEntries(Object.entries(body).filter(([key]) => OIP_REQUEST_KEYS.has(key)));
}

/** Serialises every body once up front so the load loop only writes buffers. */
export function encodeBodies(protocol: Protocol, bodies: readonly unknown[]): Buffer[] {
  return bodies.map((body, index) => {
    const value = protocol === "oip" ? toOipRequest(body, index) : body;
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new Error(`benchmark: body #${index + 1} cannot be sent as JSON (got ${typeof body})`);
    }
    return Buffer.from(text, "utf8");
  });
}
