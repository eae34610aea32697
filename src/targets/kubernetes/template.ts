import { readFile } from "node:fs/promises";
import { parse } from "yaml";

/** The user's Deployment manifest (target.template), checked to be one YAML mapping. */
export async function loadTemplate(path: string): Promise<Record<string, unknown>> {
  const data = parse(await readFile(path, "utf8"), { maxAliasCount: 100 }) as unknown;
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new Error(`${path}: target.template must hold one Deployment manifest (a YAML mapping)`);
  }
  return data as Record<string, unknown>;
}
