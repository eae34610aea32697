/** The message of anything thrown (an Error or not), for findings and logs. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
