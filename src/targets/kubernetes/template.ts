import { parse } from "yaml";
import { readRegularText } from "../../util/regular-file.js";

// A Deployment manifest; the API server refuses objects past 1.5 MiB anyway.
const MAX_TEMPLATE_BYTES = 2 * 1024 * 1024;

/** The user's Deployment manifest (target.template), checked to be one YAML mapping. */
export async function loadTemplate(path: string): Promise<Record<string, unknown>> {
  const text = await readRegularText(path, { maxBytes: MAX_TEMPLATE_BYTES, what: "target.template" });
  const data = parse(text, { maxAliasCount: 100 }) as unknown;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error(`${path}: target.template must hold one Deployment manifest (a YAML mapping)`);
  }
  return data as Record<string, unknown>;
}
