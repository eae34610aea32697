import { stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import * as core from "@actions/core";
import { validateModel } from "../model/validate.js";
import { fromInputs } from "../settings/sources.js";
import { validateParser, validationPolicy } from "../settings/validate.js";
import { markdownTable } from "../util/table.js";
import { writeReport } from "./common.js";

export async function validateAction(): Promise<void> {
  const settings = fromInputs(validateParser, core.getInput);
  const { path } = settings;
  const report = await validateModel(path, {
    policy: await validationPolicy(settings),
    ...(settings.baseline ? { baseline: settings.baseline } : {}),
  });
  // Finding paths are relative to the model root; annotations need them relative to the workspace.
  const root = await stat(path).then(
    (s) => (s.isDirectory() ? path : dirname(path)),
    () => dirname(path),
  );
  for (const f of report.findings) {
    const annotate =
      f.severity === "error" ? core.error : f.severity === "warning" ? core.warning : core.notice;
    annotate(`${f.code}: ${f.message}`, {
      title: "modelship validate",
      ...(f.file ? { file: relative(process.cwd(), join(root, f.file)) } : {}),
    });
  }
  core.setOutput("accepted", String(report.accepted));
  core.setOutput("digest", report.digest);
  core.setOutput("format", report.format);
  core.setOutput("report", await writeReport("validate", report));
  const count = (severity: string) => report.findings.filter((f) => f.severity === severity).length;
  await core.summary
    .addHeading(`${report.accepted ? "✅" : "❌"} model ${report.accepted ? "accepted" : "rejected"}`, 2)
    .addRaw(
      markdownTable(
        ["format", "digest", "files", "errors", "warnings"],
        [[report.format, `\`${report.digest}\``, report.files.length, count("error"), count("warning")]],
      ),
      true,
    )
    .addRaw(
      report.findings.length
        ? `\n${markdownTable(
            ["severity", "code", "file", "where", "message"],
            report.findings.map((f) => [
              f.severity,
              f.code,
              f.file ?? "",
              [f.global, f.key, f.offset !== undefined ? `byte ${f.offset}` : undefined]
                .filter(Boolean)
                .join(" "),
              f.message,
            ]),
          )}\n`
        : "",
    )
    .addRaw(
      `\n${markdownTable(
        ["file", "format", "bytes", "sha256"],
        report.files.map((f) => [
          f.path,
          report.artifacts.find((a) => a.file === f.path)?.format ?? "",
          f.size,
          `\`${f.sha256.slice(0, 12)}\``,
        ]),
      )}\n`,
    )
    .write();
  if (!report.accepted)
    core.setFailed(
      `the model at ${report.path} was rejected: ${report.findings
        .filter((f) => f.severity === "error")
        .map((f) => f.code)
        .join(", ")}`,
    );
}
