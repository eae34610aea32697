export interface Finding {
  severity: "error" | "warning" | "info";
  /** Stable, SCREAMING_SNAKE_CASE; tools and docs key on it. */
  code: string;
  message: string;
  /** Relative to the model root. */
  file?: string;
}
