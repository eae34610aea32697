import { readTextLimited } from "../util/http-body.js";

export interface EvalRow {
  body: unknown;
  label: number | string;
}

export interface AccuracyResult {
  correct: number;
  total: number;
  errors: number;
}

/** Splits labelled JSONL rows (an inference request plus `label`) into request bodies and labels. */
export function toEvalRows(rows: unknown[], file: string): EvalRow[] {
  return rows.map((row, index) => {
    const record = row as Record<string, unknown> | null;
    const label = record?.label;
    if (
      typeof record !== "object" ||
      record === null ||
      (typeof label !== "number" && typeof label !== "string")
    ) {
      throw new Error(
        `${file}: row ${index + 1} has no "label" (a class index or name). Fix: add "label" to every row of the eval set`,
      );
    }
    const { label: _label, ...body } = record;
    return { body, label };
  });
}

/** The predicted class from an Open Inference Protocol response: the named output's first value. */
export function predictedLabel(response: unknown, output: string): number | string | undefined {
  const outputs = (response as { outputs?: unknown })?.outputs;
  if (!Array.isArray(outputs)) return undefined;
  const match = outputs.find((o) => (o as { name?: unknown })?.name === output) as
    | { data?: unknown }
    | undefined;
  const value = Array.isArray(match?.data) ? match.data[0] : undefined;
  return typeof value === "number" || typeof value === "string" ? value : undefined;
}

// An answer to one eval row is a few tensors; a larger one is a misbehaving server, counted wrong.
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Sends every labelled row straight to one model server (not through the router, so the figure
 * is the canary's alone) and counts the rows it labels correctly. A failed request counts as wrong.
 */
export async function measureAccuracy(
  url: string,
  modelName: string,
  rows: EvalRow[],
  output: string,
  concurrency = 4,
): Promise<AccuracyResult> {
  const endpoint = `${url}/v2/models/${encodeURIComponent(modelName)}/infer`;
  let correct = 0;
  let errors = 0;
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++] as EvalRow;
      try {
        const response = await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(row.body),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) {
          errors++;
          continue;
        }
        const answer = JSON.parse(await readTextLimited(response, MAX_RESPONSE_BYTES, "inference response"));
        if (String(predictedLabel(answer, output)) === String(row.label)) correct++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
  return { correct, total: rows.length, errors };
}
