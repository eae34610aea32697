// Config problems carry where (file:line:column, or the override that caused them), which key, what is
// wrong, what was expected and how to fix it, so the CLI can print them and actions can annotate the file.

export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  /** Label of the override that caused this issue (e.g. "input model-path", "--model"); replaces line:column. */
  source?: string;
  /** Dotted key, e.g. "strategy.steps[1].weight". */
  key?: string;
  message: string;
  expected?: string;
  fix?: string;
}

/** A value quoted in a message, cut to 40 characters so a hostile or huge value cannot flood the log. */
export function shorten(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function formatIssue(issue: ConfigIssue): string {
  let where: string;
  if (issue.source !== undefined) where = issue.file ? `${issue.file}: ${issue.source}` : issue.source;
  else if (issue.line !== undefined) where = `${issue.file}:${issue.line}:${issue.column ?? 1}`;
  else where = issue.file || "configuration";
  // An override label usually names its key already ("override model.path"); don't say it twice.
  const showKey = issue.key && !(issue.source ?? "").endsWith(issue.key);
  let text = `${where}: ${showKey ? `${issue.key}: ` : ""}${issue.message}`;
  if (issue.expected) text += ` (expected ${issue.expected})`;
  if (issue.fix) text += `. Fix: ${issue.fix}`;
  return text;
}

/** Every problem found in a config, one per line in `message`; the top-level fields describe the first. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly key?: string;
  readonly expected?: string;
  readonly fix?: string;

  constructor(issues: ConfigIssue[]) {
    const first = issues[0] ?? { file: "", message: "invalid configuration" };
    super(issues.length > 0 ? issues.map(formatIssue).join("\n") : formatIssue(first));
    this.name = "ConfigError";
    this.issues = issues.length > 0 ? issues : [first];
    this.file = first.file;
    this.line = first.line;
    this.column = first.column;
    this.key = first.key;
    this.expected = first.expected;
    this.fix = first.fix;
  }
}
