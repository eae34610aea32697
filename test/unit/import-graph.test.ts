// The layers of DESIGN.md: arrows between src/ folders point one way. A circle between folders
// means two modules that cannot be understood, tested or replaced apart.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The folder under src/ a file belongs to; files directly in src/ are the entry points. */
const folderOf = (file: string) => {
  const parts = relative(SRC, file).split("/");
  return parts.length > 1 ? (parts[0] as string) : "(entry)";
};

/** Folder → the folders its files import from (relative imports, type-only ones included). */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const match of readFileSync(file, "utf8").matchAll(/\bfrom\s+"(\.{1,2}\/[^"]+)"/g)) {
      const to = folderOf(resolve(dirname(file), match[1] as string));
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(to);
    }
  }
  return graph;
}

/** One circle through the graph as a path (its first node repeated at the end), or undefined. */
function findCircle(graph: Map<string, Set<string>>): string[] | undefined {
  const done = new Set<string>();
  const visit = (node: string, path: string[]): string[] | undefined => {
    const at = path.indexOf(node);
    if (at >= 0) return [...path.slice(at), node];
    if (done.has(node)) return undefined;
    for (const next of graph.get(node) ?? []) {
      const circle = visit(next, [...path, node]);
      if (circle) return circle;
    }
    done.add(node);
    return undefined;
  };
  for (const node of graph.keys()) {
    const circle = visit(node, []);
    if (circle) return circle;
  }
  return undefined;
}

describe("import graph between src/ folders", () => {
  const graph = folderGraph();

  it("has no circle", () => {
    expect(findCircle(graph)).toBeUndefined();
  });

  it("keeps the layers: rollout above targets, targets above state and gates, nothing importing the entries", () => {
    const imports = (from: string, to: string) => graph.get(from)?.has(to) ?? false;
    expect(imports("rollout", "targets")).toBe(true);
    for (const below of ["state", "gates"]) {
      for (const above of ["targets", "rollout", "pipeline", "actions", "cli"]) {
        expect(imports(below, above), `${below} must not import ${above}`).toBe(false);
      }
    }
    expect(imports("targets", "rollout")).toBe(false);
    expect(imports("gates", "config")).toBe(false);
    const entries = ["actions", "cli", "(entry)"];
    for (const [from, tos] of graph) {
      if (entries.includes(from)) continue;
      for (const entry of entries) expect(tos.has(entry), `${from} must not import ${entry}`).toBe(false);
    }
  });

  it("the circle finder finds a circle when there is one", () => {
    const circular = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
    ]);
    expect(findCircle(circular)).toEqual(["a", "b", "c", "a"]);
    expect(findCircle(new Map([["a", new Set(["b"])]]))).toBeUndefined();
  });
});
