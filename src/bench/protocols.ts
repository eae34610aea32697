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

// The key each OpenAI-compatible request cannot do without.
const OPENAI_REQUIRED: Partial<Record<Protocol, string>> = {
  "openai-completions": "prompt",
  "openai-chat": "messages",
  "openai-embeddings": "input",
};

export interface OpenAiOptions {
  modelName?: string;
  stream: boolean;
}

/** An OpenAI-compatible request: the required key checked, "model" filled in, "stream" set as asked. */
export function toOpenAiRequest(
  protocol: Protocol,
  body: unknown,
  index: number,
  options: OpenAiOptions,
): Record<string, unknown> {
  const required = OPENAI_REQUIRED[protocol] as string;
  if (!isPlainObject(body)) {
    throw new Error(`benchmark: body #${index + 1} must be a JSON object for the ${protocol} protocol`);
  }
  if (body[required] === undefined) {
    throw new Error(`benchmark: body #${index + 1} has no "${required}"; ${protocol} requests need one`);
  }
  if (required === "messages" && !Array.isArray(body.messages)) {
    throw new Error(`benchmark: body #${index + 1}: "messages" must be a list of chat messages`);
  }
  const out: Record<string, unknown> = { ...body };
  if (out.model === undefined && options.modelName !== undefined) out.model = options.modelName;
  if (protocol !== "openai-embeddings") out.stream = options.stream;
  return out;
}

/** Serialises every body once up front so the load loop only writes buffers. */
export function encodeBodies(
  protocol: Protocol,
  bodies: readonly unknown[],
  openai: OpenAiOptions = { stream: false },
): Buffer[] {
  return bodies.map((body, index) => {
    const value =
      protocol === "oip"
        ? toOipRequest(body, index)
        : protocol === "json"
          ? body
          : toOpenAiRequest(protocol, body, index, openai);
    const text = JSON.stringify(value);
    if (text === undefined) {
      throw new Error(`benchmark: body #${index + 1} cannot be sent as JSON (got ${typeof body})`);
    }
    return Buffer.from(text, "utf8");
  });
}
