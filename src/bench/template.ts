// Request bodies from a JSON template and a table of rows (CSV with a header line, or JSONL objects).
// A string that is exactly "{{column}}" becomes the row's value with its type (JSONL numbers stay
// numbers); "{{column}}" inside a longer string is replaced by the value as text. Nothing is evaluated.
import { readProblem, readRegularText } from "../util/regular-file.js";
import { MAX_BODIES_BYTES, parseJsonLines } from "./bodies.js";

export type Row = Record<string, unknown>;

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}$/;
// A template fills thousands of bodies; rows past this are a mistake (the wrong file), not a workload.
export const MAX_ROWS = 100_000;
// A request template is one JSON body.
const MAX_TEMPLATE_BYTES = 16 * 1024 * 1024;

/** RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines. Returns rows of cells. */
export function parseCsv(text: string, file = "csv"): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let i = 0;
  const endCell = () => {
    row.push(cell);
    cell = "";
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
        const after = text[i + 1];
        if (after !== undefined && after !== "," && after !== "\n" && after !== "\r") {
          throw new Error(
            `${file}:${line}: text after a closing quote; double a quote inside a quoted field ("")`,
          );
        }
      } else {
        if (c === "\n") line++;
        cell += c;
      }
      i++;
      continue;
    }
    if (c === '"') {
      if (cell !== "")
        throw new Error(`${file}:${line}: a quote inside an unquoted field; quote the whole field`);
      quoted = true;
    } else if (c === ",") endCell();
    else if (c === "\n" || c === "\r") {
      endCell();
      rows.push(row);
      row = [];
      if (c === "\r" && text[i + 1] === "\n") i++;
      line++;
    } else cell += c;
    i++;
  }
  if (quoted) throw new Error(`${file}:${line}: a quoted field is never closed`);
  if (cell !== "" || row.length > 0) {
    endCell();
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0] === ""));
}

/** Rows as objects keyed by the header line; every row must have as many cells as the header. */
export function csvRows(text: string, file = "csv"): Row[] {
  const [header, ...rest] = parseCsv(text, file);
  if (!header) throw new Error(`${file}: empty; expected a header line and at least one row`);
  const seen = new Set<string>();
  for (const name of header) {
    if (name === "" || seen.has(name))
      throw new Error(`${file}:1: header has an empty or repeated column ${JSON.stringify(name)}`);
    seen.add(name);
  }
  if (rest.length === 0) throw new Error(`${file}: only a header line; expected at least one row`);
  return rest.map((cells, i) => {
    if (cells.length !== header.length) {
      throw new Error(`${file}: row ${i + 2} has ${cells.length} fields, the header has ${header.length}`);
    }
    return Object.fromEntries(header.map((name, j) => [name, cells[j]]));
  });
}

/** Reads rows from a .csv file or a JSONL file of objects. */
export async function loadRows(file: string): Promise<Row[]> {
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_BODIES_BYTES });
  } catch (err) {
    throw new Error(`${file}: cannot read rows: ${readProblem(err)}`);
  }
  const rows = file.toLowerCase().endsWith(".csv") ? csvRows(text, file) : jsonlRows(text, file);
  if (rows.length > MAX_ROWS) throw new Error(`${file}: ${rows.length} rows, more than ${MAX_ROWS}`);
  return rows;
}

function jsonlRows(text: string, file: string): Row[] {
  const rows = parseJsonLines(text, file).map(({ value, line }) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new Error(`${file}:${line}: a row must be a JSON object of column values`);
    }
    return value as Row;
  });
  if (rows.length === 0) throw new Error(`${file}: no rows`);
  return rows;
}

function fill(value: unknown, row: Row, rowNo: number): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    const lookup = (name: string) => {
      if (!Object.hasOwn(row, name)) {
        throw new Error(
          `template: row ${rowNo} has no column "${name}" (it has: ${Object.keys(row).join(", ")})`,
        );
      }
      return row[name];
    };
    if (whole) return lookup(whole[1] as string);
    return value.replace(PLACEHOLDER, (_m, name: string) => {
      const v = lookup(name);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, row, rowNo));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, row, rowNo)]));
  }
  return value;
}

/** One body per row: the template with its placeholders filled from that row. */
export function fillTemplate(template: unknown, rows: readonly Row[]): unknown[] {
  return rows.map((row, i) => fill(template, row, i + 1));
}

/** Reads a JSON template file. */
export async function loadTemplate(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readRegularText(file, { maxBytes: MAX_TEMPLATE_BYTES });
  } catch (err) {
    throw new Error(`${file}: cannot read the template: ${readProblem(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: the template is not valid JSON (${(err as Error).message})`);
  }
}
