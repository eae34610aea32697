import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { byCodeUnits } from "../util/compare.js";

const MAX_DEPTH = 8;

async function findOnnxFiles(dir: string, depth: number): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => byCodeUnits(a.name, b.name));
  const found: string[] = [];
  for (const entry of entries) {
    const path = join(dir, entry.name);
    // Symlinks are not followed: validateModel decides whether they are safe, this only finds the file.
    if (entry.isFile() && entry.name.toLowerCase().endsWith(".onnx")) found.push(path);
    else if (entry.isDirectory() && depth < MAX_DEPTH) found.push(...(await findOnnxFiles(path, depth + 1)));
  }
  return found;
}

/** The single .onnx file for a model path (a file, or a directory holding exactly one .onnx file). */
export async function locateOnnxFile(path: string): Promise<string> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(
      error.code === "ENOENT"
        ? `model path ${path} does not exist; check the model path setting`
        : `model path ${path} cannot be read: ${error.message}`,
    );
  });
  if (info.isFile()) return path;
  if (!info.isDirectory()) throw new Error(`model path ${path} is neither a file nor a directory`);
  const found = await findOnnxFiles(path, 0);
  if (found.length === 1 && found[0] !== undefined) return found[0];
  if (found.length === 0) {
    throw new Error(
      `no .onnx file under ${path}; export the model to ONNX or point the model path at the file`,
    );
  }
  throw new Error(
    `${found.length} .onnx files under ${path} (${found.join(", ")}); point the model path at the one to serve`,
  );
}
