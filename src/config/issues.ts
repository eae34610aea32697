// Turns zod issues into ConfigIssues people can act on: the key, what is wrong with the value actually
// given, what was expected, how to fix it, and where it came from (file:line:column or an override).
import type * as z from "zod";
import { type ConfigIssue, shorten } from "./errors.js";
import { hintFor } from "./hints.js";
import type { OverrideLabel } from "./overrides.js";
import { knownKeysAt } from "./schema.js";
import { suggest } from "./suggest.js";
import type { YamlSource } from "./yaml-source.js";

export interface IssueContext {
  file: string;
  /** The parsed file; absent when the config comes from overrides only. */
  yaml?: YamlSource;
  /** The merged data that was validated. */
  data: unknown;
  /** Override keys that were applied. */
  applied: readonly string[];
  label: OverrideLabel;
}

export function toConfigIssues(issues: readonly z.core.$ZodIssue[], context: IssueContext): ConfigIssue[] {
  const result: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) result.push(unknownKey(issue.path, key, context));
    } else {
      result.push(located(issue.path, describe(issue, valueAt(context.data, issue.path)), context, "value"));
    }
  }
  return dedupe(result).sort(
    (a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0),
  );
}

interface Described {
  message: string;
  required?: boolean;
  expected?: string;
  fix?: string;
}

function unknownKey(parent: readonly PropertyKey[], key: string, context: IssueContext): ConfigIssue {
  const known = knownKeysAt(parent);
  const path = [...parent, key];
  let described: Described;
  if (known.includes(key)) {
    // Known somewhere under this key but not in this variant (e.g. namespace with target.kind: local).
    described = { message: `"${key}" is not allowed with this kind`, fix: "remove it or change kind" };
  } else {
    const guess = suggest(key, known);
    described = {
      message: `unknown key "${shorten(key)}"`,
      expected: known.length > 0 ? `one of ${known.join(", ")}` : undefined,
      fix: guess ? `did you mean "${guess}"?` : "remove it",
    };
  }
  return located(path, described, context, "key");
}

function located(
  path: readonly PropertyKey[],
  described: Described,
  context: IssueContext,
  anchor: "key" | "value",
): ConfigIssue {
  const hint = hintFor(path);
  const base: ConfigIssue = {
    file: context.file,
    key: formatKey(path),
    message: described.message,
    expected: described.expected ?? hint?.expected,
    fix: described.fix ?? hint?.fix,
  };
  const override = overrideFor(path, context);
  // Without a file position, "add name: under model:" is not actionable; say where else it can come from.
  const settingFix = `give ${base.key} as an input or flag, or in modelship.yml`;
  if (override !== undefined) {
    return { ...base, source: context.label(override), fix: described.required ? settingFix : base.fix };
  }
  if (!context.yaml) return { ...base, fix: described.required ? settingFix : (base.fix ?? settingFix) };
  const position = anchor === "key" ? context.yaml.locateKey(path) : context.yaml.locateValue(path);
  return { ...base, line: position.line, column: position.column };
}

// An issue belongs to an override when the override set the value (or a parent of it), or when the
// override created the mapping the issue is in (e.g. gates.accuracy.min given, evalSet missing).
function overrideFor(path: readonly PropertyKey[], context: IssueContext): string | undefined {
  const dotted = path.map(String);
  const isPrefix = (prefix: string[], of: string[]) =>
    prefix.length <= of.length && prefix.every((segment, i) => segment === of[i]);
  const direct = context.applied.find((key) => isPrefix(key.split("."), dotted));
  if (direct !== undefined) return direct;
  const parent = dotted.slice(0, -1);
  if (parent.length > 0 && !context.yaml?.has(path.slice(0, -1))) {
    return context.applied.find((key) => isPrefix(parent, key.split(".")));
  }
  return undefined;
}

function describe(issue: z.core.$ZodIssue, value: unknown): Described {
  switch (issue.code) {
    case "invalid_type":
      if (value === undefined) return required(issue.path);
      return {
        message: `must be ${typeName(issue.expected)}, got ${show(value)}`,
        expected: hintFor(issue.path) ? undefined : typeName(issue.expected),
      };
    case "too_small":
      if (issue.origin === "string") return { message: "must not be empty" };
      if (issue.origin === "array") {
        return {
          message: `has ${Array.isArray(value) ? value.length : 0} items, needs at least ${issue.minimum}`,
        };
      }
      return { message: `${show(value)} is ${issue.inclusive ? "below" : "not above"} ${issue.minimum}` };
    case "too_big":
      if (issue.origin === "string") return { message: `is longer than ${issue.maximum} characters` };
      if (issue.origin === "array") {
        return {
          message: `has ${Array.isArray(value) ? value.length : 0} items, at most ${issue.maximum} allowed`,
        };
      }
      return { message: `${show(value)} is ${issue.inclusive ? "above" : "not below"} ${issue.maximum}` };
    case "invalid_format":
      return { message: `${show(value)} is not valid` };
    case "invalid_value":
      return {
        message: `${show(value)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`,
      };
    case "invalid_union": {
      if ((issue as { note?: string }).note === "No matching discriminator") {
        if (value === undefined) return required(issue.path);
        return { message: `${show(value)} is not a known kind` };
      }
      return { message: `has the wrong type, got ${show(value)}` };
    }
    default:
      return { message: issue.message };
  }
}

function required(path: readonly PropertyKey[]): Described {
  const parent = formatKey(path.slice(0, -1));
  return {
    message: "is required",
    required: true,
    fix: `add ${String(path[path.length - 1])}:${parent ? ` under ${parent}:` : ""}`,
  };
}

function typeName(expected: string): string {
  if (expected === "int") return "a whole number";
  if (expected === "object") return "a mapping";
  if (expected === "array") return "a list";
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function show(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return JSON.stringify(shorten(value));
  return String(value);
}

export function formatKey(path: readonly PropertyKey[]): string {
  let key = "";
  for (const segment of path) {
    if (typeof segment === "number") key += `[${segment}]`;
    else key += key ? `.${String(segment)}` : String(segment);
  }
  return key;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let node = data;
  for (const segment of path) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, segment)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const id = `${issue.key}|${issue.message}|${issue.source}|${issue.line}:${issue.column}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
