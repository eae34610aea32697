// Agreement of `modelship validate` with the peers' own verdicts on the shared peer corpus
// (/work/shared/peer-corpus: picklescan, fickling, modelscan, safetensors and ONNX test files, each row of
// manifest.tsv saying accept or reject). Measures only: nothing here is copied into the repository.
//   npx tsx bench/peer-corpus.ts [--corpus DIR] [--strict] [--only picklescan,fickling,modelscan] [--list]
// --only keeps rows whose path starts with one of the folders; --list prints every disagreement.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { validateModel } from "../src/model/validate.js";

interface Row {
  path: string;
  expected: "accept" | "reject";
  source: string;
  reason: string;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function main(args: string[]): Promise<void> {
  const corpus = option(args, "--corpus") ?? "/work/shared/peer-corpus";
  const only = option(args, "--only")?.split(",");
  const strict = args.includes("--strict");
  const text = await readFile(join(corpus, "manifest.tsv"), "utf8");
  const rows: Row[] = text
    .split("\n")
    .slice(1)
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [path = "", expected = "", source = "", reason = ""] = l.split("\t");
      return { path, expected: expected as Row["expected"], source, reason };
    })
    .filter((r) => !only || only.some((o) => r.path.startsWith(`${o}/`)));
  const wrong: { row: Row; got: string; codes: string }[] = [];
  const counts = { falseAccept: 0, falseReject: 0 };
  for (const row of rows) {
    const report = await validateModel(join(corpus, row.path), {
      policy: { pickle: strict ? "strict" : "warn", smokeRun: true },
    });
    const got = report.accepted ? "accept" : "reject";
    if (got === row.expected) continue;
    if (got === "accept") counts.falseAccept++;
    else counts.falseReject++;
    const codes = [...new Set(report.findings.filter((f) => f.severity === "error").map((f) => f.code))];
    wrong.push({ row, got, codes: codes.join(",") || report.format });
  }
  const agree = rows.length - wrong.length;
  const mode = strict ? "strict" : "default";
  process.stdout.write(
    `${mode}: ${agree}/${rows.length} agree; ${counts.falseAccept} accepted that peers reject, ${counts.falseReject} rejected that peers accept\n`,
  );
  if (args.includes("--list")) {
    for (const w of wrong) process.stdout.write(`  ${w.got}\t${w.row.path}\t${w.codes}\t${w.row.reason}\n`);
  }
}

await main(process.argv.slice(2));
