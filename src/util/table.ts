export type Cell = string | number;

const text = (cell: Cell) => String(cell);

/** A GitHub-flavoured Markdown table (job summaries, PR comments). Pipes in cells are escaped. */
export function markdownTable(headers: string[], rows: Cell[][]): string {
  const escapeCell = (cell: Cell) =>
    text(cell)
      .replaceAll("|", "\\|")
      .replace(/\r\n|\r|\n/g, " ");
  const line = (cells: Cell[]) => `| ${cells.map(escapeCell).join(" | ")} |`;
  return [line(headers), `| ${headers.map(() => "---").join(" | ")} |`, ...rows.map(line)].join("\n");
}

/** A plain aligned table for terminals. */
export function textTable(headers: string[], rows: Cell[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => text(r[i] ?? "").length)));
  const line = (cells: Cell[]) =>
    cells
      .map((c, i) => text(c).padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(headers), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}
