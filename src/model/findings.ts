export interface Finding {
  severity: "error" | "warning" | "info";
  /** Stable, SCREAMING_SNAKE_CASE; tools and docs key on it. */
  code: string;
  message: string;
  /** Relative to the model root. */
  file?: string;
  /** For pickle findings: the global the pickle would import, as "module.name". */
  global?: string;
  /** For header/metadata findings: the JSON or GGUF key at fault. */
  key?: string;
  /** Byte offset in the file (or archive member) where the problem was found. */
  offset?: number;
}

/** A content problem found while parsing: the parser stops and it becomes a finding. */
export class FormatError extends Error {
  constructor(
    message: string,
    readonly offset?: number,
  ) {
    super(message);
  }
}
