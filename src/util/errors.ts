/** The message of anything thrown (an Error or not), for findings and logs. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A failed fetch's message with its cause: undici says only "fetch failed", and the cause says
 * why ("connect ECONNREFUSED 127.0.0.1:8080", "other side closed").
 */
export function fetchErrorMessage(error: unknown): string {
  const message = errorMessage(error);
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause === undefined || cause === null) return message;
  const code = (cause as { code?: unknown }).code;
  const why =
    cause instanceof Error
      ? cause.message || String(code ?? "")
      : typeof cause === "object"
        ? typeof code === "string"
          ? code
          : ""
        : String(cause);
  return why && !message.includes(why) ? `${message} (${why})` : message;
}
