// YAML text → plain data plus a way back from a key path to line:column in that text, so schema errors
// can point at the offending value.
import {
  type Document,
  isAlias,
  isMap,
  isNode,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
} from "yaml";
import { ConfigError, type ConfigIssue } from "./errors.js";

export const MAX_CONFIG_BYTES = 1024 * 1024;
// Deeply nested flow collections ("[[[[…") exhaust memory in the YAML lexer; no config needs this many.
const MAX_FLOW_DEPTH = 64;
const MAX_ALIAS_COUNT = 100;

export interface Position {
  line: number;
  column: number;
}

export interface YamlSource {
  data: unknown;
  /** Position of the value at `path`, or of the deepest key that exists on the way to it. */
  locateValue(path: readonly PropertyKey[]): Position;
  /** Position of the key naming `path`'s last segment (for unknown keys). */
  locateKey(path: readonly PropertyKey[]): Position;
  /** Whether a value exists at `path` in the file. */
  has(path: readonly PropertyKey[]): boolean;
}

export function parseYaml(text: string, file: string): YamlSource {
  if (Buffer.byteLength(text, "utf8") > MAX_CONFIG_BYTES) {
    throw new ConfigError([
      {
        file,
        message: `file is larger than ${MAX_CONFIG_BYTES} bytes`,
        fix: "a modelship.yml is a few dozen lines; check that the right file is given",
      },
    ]);
  }
  const depthAt = flowDepthExceeded(text);
  const lineCounter = new LineCounter();
  if (depthAt !== undefined) {
    lineCounter.addNewLine(0);
    for (let i = 0; i < depthAt; i++) if (text[i] === "\n") lineCounter.addNewLine(i + 1);
    throw new ConfigError([
      {
        file,
        ...toPosition(lineCounter, depthAt),
        message: `flow collections nested more than ${MAX_FLOW_DEPTH} deep`,
        fix: "flatten the [ ] / { } nesting",
      },
    ]);
  }

  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => ({
        file,
        ...toPosition(lineCounter, error.pos[0]),
        message: `YAML: ${firstLine(error.message)}`,
        fix:
          error.code === "DUPLICATE_KEY"
            ? "keep only one of the keys with this name"
            : "fix the YAML syntax (indentation, quotes, brackets)",
      })),
    );
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    throw new ConfigError([aliasIssue(doc, lineCounter, file, error)]);
  }

  const position = (offset: number | undefined): Position =>
    offset === undefined ? { line: 1, column: 1 } : toPosition(lineCounter, offset);

  return {
    data,
    has: (path) => walk(doc, path).length === path.length,
    locateValue(path) {
      const steps = walk(doc, path);
      const last = steps[steps.length - 1];
      if (steps.length === path.length && last && hasText(last.value)) return position(start(last.value));
      // Missing (or empty) value: point at the key that should hold it.
      for (let i = steps.length - 1; i >= 0; i--) {
        const at = start(steps[i]?.key) ?? start(steps[i]?.value);
        if (at !== undefined) return position(at);
      }
      return position(start(doc.contents));
    },
    locateKey(path) {
      const steps = walk(doc, path);
      const last = steps[steps.length - 1];
      if (steps.length === path.length && last) return position(start(last.key) ?? start(last.value));
      return this.locateValue(path);
    },
  };
}

interface WalkStep {
  key?: unknown;
  value: unknown;
}

function walk(doc: Document, path: readonly PropertyKey[]): WalkStep[] {
  const steps: WalkStep[] = [];
  let node: unknown = doc.contents;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) break;
      steps.push({ key: pair.key, value: pair.value });
      node = pair.value;
    } else if (isSeq(node) && typeof segment === "number") {
      const item = node.items[segment];
      if (item === undefined) break;
      steps.push({ value: item });
      node = item;
    } else {
      break;
    }
  }
  return steps;
}

function start(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

// `key:` with nothing after it parses as a zero-width null scalar; its key is the useful position.
function hasText(node: unknown): boolean {
  return isNode(node) && node.range !== undefined && node.range !== null && node.range[1] > node.range[0];
}

function toPosition(lineCounter: LineCounter, offset: number): Position {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/ at line \d+, column \d+:?$/, "");
}

function flowDepthExceeded(text: string): number | undefined {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "[" || char === "{") {
      depth++;
      if (depth > MAX_FLOW_DEPTH) return i;
    } else if ((char === "]" || char === "}") && depth > 0) {
      depth--;
    }
  }
  return undefined;
}

function aliasIssue(doc: Document, lineCounter: LineCounter, file: string, error: unknown): ConfigIssue {
  let firstAlias: number | undefined;
  visit(doc, {
    Alias(_, node) {
      firstAlias = node.range?.[0];
      return visit.BREAK;
    },
  });
  const isAliasBomb = error instanceof ReferenceError || firstAlias !== undefined;
  return {
    file,
    ...(firstAlias !== undefined ? toPosition(lineCounter, firstAlias) : {}),
    message: isAliasBomb
      ? `YAML aliases expand to more than ${MAX_ALIAS_COUNT} nodes`
      : `YAML could not be read: ${(error as Error).message}`,
    fix: isAliasBomb ? "write the values out instead of using anchors and aliases (*name)" : undefined,
  };
}
