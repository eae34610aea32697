import { fetchErrorMessage } from "../util/errors.js";
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

/** One model's answer to each eval row: the predicted value, or null with why there was none. */
export interface EvalAnswers {
  values: (number | string | null)[];
  /** Per row: "" when answered, else the reason (HTTP status, malformed body, no such output, NaN). */
  failures: string[];
}

/**
 * Sends every row straight to one model server (not through the router, so the figures are that
 * track's alone) and keeps each answer. Failed requests, malformed bodies, a missing output and
 * non-finite numbers are answers of nobody: null, with the reason.
 */
export async function collectAnswers(
  url: string,
  modelName: string,
  rows: readonly Pick<EvalRow, "body">[],
  output: string,
  concurrency = 4,
): Promise<EvalAnswers> {
  const endpoint = `${url}/v2/models/${encodeURIComponent(modelName)}/infer`;
  const values: (number | string | null)[] = rows.map(() => null);
  const failures: string[] = rows.map(() => "");
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const index = next++;
      const row = rows[index] as EvalRow;
      try {
        const response = await fetch(endpoint, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(row.body),
          signal: AbortSignal.timeout(10_000),
        });
        if (!response.ok) {
          failures[index] = `HTTP ${response.status}`;
          await response.body?.cancel();
          continue;
        }
        let answer: unknown;
        try {
          answer = JSON.parse(await readTextLimited(response, MAX_RESPONSE_BYTES, "inference response"));
        } catch (error) {
          failures[index] = `malformed body: ${(error as Error).message}`;
          continue;
        }
        const value = predictedLabel(answer, output);
        if (value === undefined) failures[index] = `no output "${output}" in the answer`;
        else if (typeof value === "number" && !Number.isFinite(value))
          failures[index] = "a non-finite number";
        else values[index] = value;
      } catch (error) {
        failures[index] = `no answer: ${fetchErrorMessage(error)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
  return { values, failures };
}

/**
 * The canary's accuracy alone: the rows it labels correctly. A failed request counts as wrong and
 * as an error; an answer without the expected output counts as wrong only.
 */
export async function measureAccuracy(
  url: string,
  modelName: string,
  rows: EvalRow[],
  output: string,
  concurrency = 4,
): Promise<AccuracyResult> {
  const answers = await collectAnswers(url, modelName, rows, output, concurrency);
  let correct = 0;
  let errors = 0;
  answers.values.forEach((value, i) => {
    if (value !== null && String(value) === String((rows[i] as EvalRow).label)) correct++;
    const failure = answers.failures[i] as string;
    if (failure && !failure.startsWith("no output")) errors++;
  });
  return { correct, total: rows.length, errors };
}
