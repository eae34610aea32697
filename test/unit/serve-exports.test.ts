// The reference server's modules export only what other files import: a name exported and used in
// its own file alone reads as API that callers depend on, and dead code hides behind it.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const CHECKED = [
  ...readdirSync(join(REPO, "src", "serve")).map((name) => join("src", "serve", name)),
  join("src", "onnx", "tensors.ts"),
  join("src", "onnx", "runtime.ts"),
].map((path) => join(REPO, path));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** File → the names other files import from it (named imports and re-exports, type-only included). */
function importedNames(): Map<string, Set<string>> {
  const imported = new Map<string, Set<string>>();
  const files = ["src", "test", "bench", "scripts", "examples"].flatMap((dir) =>
    sourceFiles(join(REPO, dir)),
  );
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(
      /\b(?:import|export)\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"(\.{1,2}\/[^"]+)"/g,
    )) {
      const target = resolve(dirname(file), m[2] as string).replace(/\.js$/, ".ts");
      if (target === file) continue;
      const names = imported.get(target) ?? new Set<string>();
      for (const part of (m[1] as string).split(",")) {
        const name = part
          .trim()
          .replace(/^type\s+/, "")
          .split(/\s+as\s+/)[0];
        if (name) names.add(name);
      }
      imported.set(target, names);
    }
  }
  return imported;
}

describe("exports of src/serve and src/onnx's tensors and runtime", () => {
  it("are each imported by another file", () => {
    const imported = importedNames();
    const unused: string[] = [];
    for (const file of CHECKED) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(
        /^export\s+(?:async\s+)?(?:const|let|function|class|interface|type|enum)\s+([A-Za-z0-9_$]+)/gm,
      )) {
        if (!imported.get(file)?.has(m[1] as string)) unused.push(`${relative(REPO, file)}: ${m[1]}`);
      }
    }
    expect(unused).toEqual([]);
  });
});
